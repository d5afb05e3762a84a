-- focus_pieces: the FOCUS Cost and Usage rows of the day, one per allocated piece of an origin charge, with every
-- column either FOCUS version exports (1.3 names and order) plus `attribution`, what the 1.2 layer needs instead of
-- the allocation columns. Each summable column of a charge (the four costs, both quantities, the effective cost in
-- the pricing currency and the commitment quantity) is split over its pieces the way allocation split the cost metric
-- (unit prices are the charge's on every piece): integer units of 1e-10 by weight / total_weight, largest
-- remainder, ties in allocation's order. So per charge every column's pieces sum to it exactly and keep its sign,
-- and the cost metric's pieces are the allocated amounts.
-- reads: allocated_lines_day, focus_charges, focus_drivers
-- params: none
-- output: script: temp macro piece_part, temp table focus_pieces

-- a piece's part of one summable column of its charge: the allocated amount where the column equals the cost
-- metric, else the piece's largest-remainder share of the column's absolute value (`split_values` lists the charge's
-- distinct absolute values, `piece_units` the piece's share of each), with the column's sign
create or replace temp macro piece_part(column_units, metric_units, amount, split_values, piece_units) as
    case
        when column_units = metric_units then amount
        else cast(sign(column_units) * piece_units[list_position(split_values, abs(column_units))] as decimal(38, 0))
            * 0.0000000001
    end;

create or replace temp table focus_pieces as
with pieces as (
    select
        a.*,
        c.line_no,
        cast(a.weight as hugeint) as weight_units,
        cast(a.total_weight as hugeint) as total_weight_units,
        row_number() over (
            partition by c.line_no
            order by a.team, a.feature, a.customer, a.agent, a.workflow, a.provider, a.model, a.is_retry
        ) as piece_no,
        json_merge_patch(
            '{}',
            json_object(
                'apportion/team', a.team,
                'apportion/feature', a.feature,
                'apportion/customer', a.customer,
                'apportion/agent', a.agent,
                'apportion/workflow', a.workflow
            )
        ) as dimension_tags
    from allocated_lines_day a
    join focus_charges c on a.line_id = c.line_id
),

-- the values each charge splits over its pieces: the distinct absolute values of its summable columns, except the
-- cost metric's own (allocation split it already: its pieces are the allocated amounts). Most charges have none
-- left, or one (their quantity), so few rows are ranked.
line_values as (
    select distinct line_no, abs(units) as units
    from (
        select
            line_no,
            metric_units,
            unnest([
                billed_units, effective_units, list_units, contracted_units, pricing_quantity_units,
                consumed_quantity_units, pricing_currency_effective_units, commitment_quantity_units
            ]) as units
        from focus_charges
    )
    where units is not null and units is distinct from metric_units
),

floored as (
    select
        p.line_no,
        p.piece_no,
        v.units,
        (v.units * p.weight_units) // p.total_weight_units as base_units,
        (v.units * p.weight_units) % p.total_weight_units as remainder
    from pieces p
    join line_values v on p.line_no = v.line_no
),

ranked as (
    select
        line_no,
        piece_no,
        units,
        base_units + case
            when row_number() over (partition by line_no, units order by remainder desc, piece_no)
                <= units - sum(base_units) over (partition by line_no, units)
                then 1
            else 0
        end as piece_units
    from floored
),

-- each piece's share of each value of its charge, as two parallel lists
shares as (
    select
        line_no,
        piece_no,
        list(units order by units) as units,
        list(piece_units order by units) as piece_units
    from ranked
    group by line_no, piece_no
),

origin_tags as (
    select
        line_no,
        json_merge_patch(coalesce(to_json(Tags), '{}'), json_object('apportion/source', x_Source)) as tags
    from focus_charges
)

select
    case
        when p.allocation_rule = 'unallocated' then to_json({
            'Elements': [{'AllocatedRatio': 1}],
            'x_UnallocatedReason': p.unallocated_reason
        })
        when d.usage_unit is null then to_json({
            'Elements': [{'AllocatedRatio': p.ratio, 'x_Weight': p.weight, 'x_TotalWeight': p.total_weight}],
            'x_AllocationMethod': p.allocation_method
        })
        else to_json({
            'Elements': [{
                'AllocatedRatio': p.ratio,
                'UsageUnit': d.usage_unit,
                'UsageQuantity': case
                    when d.unit_scale = 1 then to_json(p.weight_units)
                    else to_json(cast(p.weight_units as decimal(38, 0)) * d.unit_scale)
                end,
                'x_Weight': p.weight,
                'x_TotalWeight': p.total_weight
            }],
            'x_AllocationMethod': p.allocation_method,
            'x_Driver': d.driver
        })
    end::varchar as AllocatedMethodDetails,
    p.allocation_rule as AllocatedMethodId,
    case when p.allocation_rule <> 'unallocated' then
        'team=' || coalesce(p.team, 'unallocated')
        || '/feature=' || coalesce(p.feature, 'unallocated')
        || '/customer=' || coalesce(p.customer, 'unallocated')
        || '/agent=' || coalesce(p.agent, 'unallocated')
        || '/workflow=' || coalesce(p.workflow, 'unallocated')
    end as AllocatedResourceId,
    case when p.allocation_rule <> 'unallocated' then
        coalesce(nullif(concat_ws(' / ', p.team, p.feature, p.customer, p.agent, p.workflow), ''), 'unallocated')
    end as AllocatedResourceName,
    case when p.allocation_rule <> 'unallocated' then nullif(p.dimension_tags::varchar, '{}') end as AllocatedTags,
    c.AvailabilityZone,
    piece_part(c.billed_units, c.metric_units, p.amount, a.units, a.piece_units) as BilledCost,
    c.BillingAccountId,
    c.BillingAccountName,
    c.BillingAccountType,
    c.BillingCurrency,
    c.BillingPeriodEnd,
    c.BillingPeriodStart,
    c.CapacityReservationId,
    c.CapacityReservationStatus,
    c.ChargeCategory,
    c.ChargeClass,
    c.ChargeDescription,
    c.ChargeFrequency,
    c.ChargePeriodEnd,
    c.ChargePeriodStart,
    c.CommitmentDiscountCategory,
    c.CommitmentDiscountId,
    c.CommitmentDiscountName,
    piece_part(c.commitment_quantity_units, c.metric_units, p.amount, a.units, a.piece_units) as CommitmentDiscountQuantity,
    c.CommitmentDiscountStatus,
    c.CommitmentDiscountType,
    c.CommitmentDiscountUnit,
    piece_part(c.consumed_quantity_units, c.metric_units, p.amount, a.units, a.piece_units) as ConsumedQuantity,
    c.ConsumedUnit,
    piece_part(c.contracted_units, c.metric_units, p.amount, a.units, a.piece_units) as ContractedCost,
    c.ContractedUnitPrice,
    piece_part(c.effective_units, c.metric_units, p.amount, a.units, a.piece_units) as EffectiveCost,
    c.HostProviderName,
    c.InvoiceId,
    c.InvoiceIssuerName,
    piece_part(c.list_units, c.metric_units, p.amount, a.units, a.piece_units) as ListCost,
    c.ListUnitPrice,
    c.PricingCategory,
    c.PricingCurrency,
    c.PricingCurrencyContractedUnitPrice,
    piece_part(c.pricing_currency_effective_units, c.metric_units, p.amount, a.units, a.piece_units) as PricingCurrencyEffectiveCost,
    c.PricingCurrencyListUnitPrice,
    piece_part(c.pricing_quantity_units, c.metric_units, p.amount, a.units, a.piece_units) as PricingQuantity,
    c.PricingUnit,
    c.ProviderName,
    c.PublisherName,
    c.RegionId,
    c.RegionName,
    c.ResourceId,
    c.ResourceName,
    c.ResourceType,
    c.ServiceCategory,
    c.ServiceName,
    c.ServiceProviderName,
    c.ServiceSubcategory,
    c.SkuId,
    c.SkuMeter,
    c.SkuPriceDetails,
    c.SkuPriceId,
    c.SubAccountId,
    c.SubAccountName,
    c.SubAccountType,
    t.tags::varchar as Tags,
    c.x_Source,
    c.line_id as x_LineId,
    c.x_CostCategory,
    p.provider as x_Provider,
    p.model as x_Model,
    c.x_ApiKeyId,
    coalesce(p.is_retry, false) as x_IsRetry,
    p.driver_input_tokens as x_InputTokens,
    p.driver_output_tokens as x_OutputTokens,
    p.driver_requests as x_Requests,
    c.x_OriginalCurrency,
    c.x_FxRate,
    {
        'line': p.line_no,
        'piece': p.piece_no,
        'rule': p.allocation_rule,
        'ratio': p.ratio,
        'team': p.team,
        'feature': p.feature,
        'customer': p.customer,
        'agent': p.agent,
        'workflow': p.workflow,
        'unallocated_reason': p.unallocated_reason,
        'tags': json_merge_patch(t.tags, p.dimension_tags)::varchar
    } as attribution
from pieces p
join focus_charges c on p.line_no = c.line_no
left join shares a on p.line_no = a.line_no and p.piece_no = a.piece_no
join origin_tags t on p.line_no = t.line_no
left join focus_drivers d on p.allocation_rule = d.rule_name
order by p.line_no, p.piece_no
