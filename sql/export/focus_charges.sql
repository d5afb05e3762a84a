-- focus_charges: the day's staged cost lines as FOCUS origin charges, one row per line. Staging already gives FOCUS's
-- values in the columns with allowed values (assets/ingest/vocabulary.py); values FOCUS requires but a source may
-- lack are derived here by the documented rules (docs/focus-export.md). `problem` says why a line still cannot be
-- exported (it is then left out of the files and listed in the export's summary), `stale` why the day's allocation
-- is out of step with staging (the day is not exported); both null when the line can be exported.
-- reads: cost_lines_day, allocated_lines_day
-- params: $charge_date, $cost_metric
-- output: focus_charges
create or replace temp table focus_charges as
with allocation as (
    select line_id, count(*) as pieces, any_value(line_amount) as line_amount
    from allocated_lines_day
    group by line_id
),

lines as (
    select
        coalesce(c.x_LineId, a.line_id) as line_id,
        a.pieces,
        a.line_amount,
        case when $cost_metric = 'BilledCost' then c.BilledCost else c.EffectiveCost end as metric_amount,
        c.*
    from cost_lines_day c
    full join allocation a on c.x_LineId = a.line_id
),

derived as (
    select
        line_id,
        pieces,
        line_amount,
        metric_amount,
        x_Source,
        x_SourceFile,
        x_SourceRow,
        BilledCost,
        EffectiveCost,
        -- without unit prices, a charge's list and contracted cost are its billed cost (FOCUS ListCost, ContractedCost)
        coalesce(ListCost, BilledCost) as ListCost,
        coalesce(ContractedCost, BilledCost) as ContractedCost,
        PricingQuantity,
        -- FOCUS: consumption is only on usage, and an unused commitment consumed nothing
        -- (a source that reports only a pricing quantity consumed that quantity)
        case
            when ChargeCategory = 'Usage' and coalesce(CommitmentDiscountStatus, '') <> 'Unused'
                then coalesce(ConsumedQuantity, PricingQuantity)
        end as ConsumedQuantity,
        -- a vendor API report names no billing account: the source stands for it, so FOCUS tools can group by it
        coalesce(BillingAccountId, 'apportion:' || x_Source) as BillingAccountId,
        BillingAccountName,
        BillingCurrency,
        coalesce(BillingPeriodStart, date_trunc('month', $charge_date::date)::timestamptz) as BillingPeriodStart,
        coalesce(BillingPeriodEnd, (date_trunc('month', $charge_date::date) + interval 1 month)::timestamptz)
            as BillingPeriodEnd,
        -- a line spread over several days is exported as its share of this day
        greatest(ChargePeriodStart, $charge_date::date::timestamptz) as ChargePeriodStart,
        least(ChargePeriodEnd, ($charge_date::date + 1)::timestamptz) as ChargePeriodEnd,
        ChargeCategory,
        ChargeClass,
        ChargeDescription,
        -- the line's frequency (staging gives FOCUS's spelling); else by its category: usage is Usage-Based, any
        -- other charge Recurring when it covers its whole billing period (a monthly fee or tax), One-Time otherwise;
        -- a purchase is never Usage-Based
        case
            when ChargeFrequency is not null and not (ChargeFrequency = 'Usage-Based' and ChargeCategory = 'Purchase')
                then ChargeFrequency
            when ChargeCategory = 'Usage' then 'Usage-Based'
            when ChargePeriodStart = BillingPeriodStart and ChargePeriodEnd = BillingPeriodEnd then 'Recurring'
            else 'One-Time'
        end as ChargeFrequency,
        CapacityReservationId,
        CapacityReservationStatus,
        CommitmentDiscountCategory,
        CommitmentDiscountId,
        CommitmentDiscountStatus,
        CommitmentDiscountType,
        case
            when ChargeCategory = 'Usage' and coalesce(CommitmentDiscountStatus, '') <> 'Unused'
                then coalesce(ConsumedUnit, PricingUnit)
        end as ConsumedUnit,
        InvoiceId,
        coalesce(InvoiceIssuerName, ServiceProviderName) as InvoiceIssuerName,
        coalesce(ServiceProviderName, InvoiceIssuerName) as ServiceProviderName,
        coalesce(HostProviderName, ServiceProviderName, InvoiceIssuerName) as HostProviderName,
        -- FOCUS <= 1.2 names, the inverse of how the focus source kind maps them
        coalesce(HostProviderName, InvoiceIssuerName, ServiceProviderName) as ProviderName,
        coalesce(ServiceProviderName, InvoiceIssuerName) as PublisherName,
        PricingCategory,
        PricingUnit,
        RegionId,
        ResourceId,
        ResourceName,
        ResourceType,
        coalesce(ServiceCategory, 'Other') as ServiceCategory,
        coalesce(ServiceName, ServiceProviderName, InvoiceIssuerName) as ServiceName,
        ServiceSubcategory,
        -- a vendor meter with no SKU id (an API cost report's token type): the provider, model and meter identify it
        coalesce(SkuId, case when SkuMeter is not null then concat_ws('/', x_Provider, x_Model, SkuMeter) end) as SkuId,
        SkuMeter,
        SubAccountId,
        SubAccountName,
        Tags,
        x_ApiKeyId,
        x_CostCategory,
        x_FxRate,
        x_OriginalCurrency
    from lines
),

defaulted as (
    select
        -- a line without a subcategory is its category's `Other (…)` (staging fits a subcategory to its category)
        * replace (coalesce(ServiceSubcategory, 'Other (' || ServiceCategory || ')') as ServiceSubcategory),
        cast(metric_amount * 10000000000 as hugeint) as metric_units,
        cast(BilledCost * 10000000000 as hugeint) as billed_units,
        cast(EffectiveCost * 10000000000 as hugeint) as effective_units,
        cast(ListCost * 10000000000 as hugeint) as list_units,
        cast(ContractedCost * 10000000000 as hugeint) as contracted_units,
        cast(PricingQuantity * 10000000000 as hugeint) as pricing_quantity_units,
        cast(ConsumedQuantity * 10000000000 as hugeint) as consumed_quantity_units
    from derived
)

select
    *,
    row_number() over (order by line_id) as line_no,
    case
        when x_Source is null then 'allocated_lines has pieces of a line cost_lines does not hold: re-run allocation'
        when pieces is null then 'the line has no allocated pieces: re-run allocation for the day'
        when line_amount <> metric_amount
            then format('allocated amount {} differs from the line''s {} {}: re-run allocation',
                line_amount, $cost_metric, metric_amount)
    end as stale,
    case
        when InvoiceIssuerName is null then 'InvoiceIssuerName and ServiceProviderName are null; FOCUS requires them'
    end as problem
from defaulted
