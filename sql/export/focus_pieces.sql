-- focus_pieces: the FOCUS Cost and Usage rows of the day, one per allocated piece of an origin charge, with every
-- column either FOCUS version exports (1.3 names and order) plus `attribution`, what the 1.2 layer needs instead of
-- the allocation columns. Each summable column of a charge (the four costs and both quantities) is split over its
-- pieces the way allocation split the cost metric: integer units of 1e-10 by weight / total_weight, largest
-- remainder, ties in allocation's order. So per charge every column's pieces sum to it exactly and keep its sign,
-- and the cost metric's pieces are the allocated amounts.
create or replace temp view focus_pieces as
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

-- one row per piece and summable column (1 BilledCost, 2 EffectiveCost, 3 ListCost, 4 ContractedCost,
-- 5 PricingQuantity, 6 ConsumedQuantity), keyed by integers so that the windows below sort fast
measures as (
    select
        p.line_no,
        p.piece_no,
        p.weight_units,
        p.total_weight_units,
        m.measure,
        case m.measure
            when 1 then c.billed_units
            when 2 then c.effective_units
            when 3 then c.list_units
            when 4 then c.contracted_units
            when 5 then c.pricing_quantity_units
            when 6 then c.consumed_quantity_units
        end as line_units
    from pieces p
    join focus_charges c on p.line_no = c.line_no
    cross join range(1, 7) m(measure)
),

floored as (
    select
        *,
        (abs(line_units) * weight_units) // total_weight_units as base_units,
        (abs(line_units) * weight_units) % total_weight_units as remainder
    from measures
),

ranked as (
    select
        *,
        abs(line_units) - sum(base_units) over (partition by line_no, measure) as leftover,
        row_number() over (partition by line_no, measure order by remainder desc, piece_no) as remainder_rank
    from floored
),

split as (
    select
        line_no,
        piece_no,
        measure,
        cast(
            sign(line_units) * (base_units + case when remainder_rank <= leftover then 1 else 0 end) as decimal(38, 0)
        ) * 0.0000000001 as value
    from ranked
),

amounts as (
    select
        line_no,
        piece_no,
        any_value(value) filter (where measure = 1) as BilledCost,
        any_value(value) filter (where measure = 2) as EffectiveCost,
        any_value(value) filter (where measure = 3) as ListCost,
        any_value(value) filter (where measure = 4) as ContractedCost,
        any_value(value) filter (where measure = 5) as PricingQuantity,
        any_value(value) filter (where measure = 6) as ConsumedQuantity
    from split
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
    a.BilledCost,
    c.BillingAccountId,
    c.BillingAccountName,
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
    c.CommitmentDiscountId,
    c.CommitmentDiscountStatus,
    a.ConsumedQuantity,
    c.ConsumedUnit,
    a.ContractedCost,
    a.EffectiveCost,
    c.HostProviderName,
    c.InvoiceId,
    c.InvoiceIssuerName,
    a.ListCost,
    a.PricingQuantity,
    c.PricingUnit,
    c.ProviderName,
    c.PublisherName,
    c.RegionId,
    c.ResourceId,
    c.ResourceName,
    c.ResourceType,
    c.ServiceCategory,
    c.ServiceName,
    c.ServiceProviderName,
    c.ServiceSubcategory,
    c.SkuId,
    c.SkuMeter,
    c.SubAccountId,
    c.SubAccountName,
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
join amounts a on p.line_no = a.line_no and p.piece_no = a.piece_no
join origin_tags t on p.line_no = t.line_no
left join focus_drivers d on p.allocation_rule = d.rule_name
