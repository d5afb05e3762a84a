-- focus_charges: the day's staged cost lines as FOCUS origin charges, one row per line. Staging already gives FOCUS's
-- values in the columns with allowed values (assets/ingest/vocabulary.py); values FOCUS requires but a source may
-- lack are derived here by the documented rules (docs/focus-export.md). `problem` says why a line still cannot be
-- exported (it is then left out of the files and listed in the export's summary), `stale` why the day's allocation
-- is out of step with staging (the day is not exported); both null when the line can be exported.
-- reads: cost_lines_day, allocated_lines_day
-- params: $charge_date, $cost_metric
-- output: script: temp macro unit_price, temp table focus_charges

-- a unit price from a cost and its pricing quantity, to 1e-18 (truncated); null without a non-zero quantity or when
-- the two have opposite signs (a negation line: FOCUS unit prices are never negative)
create or replace temp macro unit_price(cost, quantity) as
    case when quantity <> 0 and sign(cost) * sign(quantity) >= 0 then
        cast(
            cast(cost * 10000000000 as hugeint) * 1000000000000000000 // cast(quantity * 10000000000 as hugeint)
            as decimal(38, 0)
        ) * 0.000000000000000001
    end;

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
        -- FOCUS: a pricing quantity only with its unit, never on tax (the quantity a source gives a tax line is the
        -- taxed amount's)
        c.* replace (
            case when c.ChargeCategory <> 'Tax' and c.PricingUnit is not null then c.PricingQuantity end
                as PricingQuantity,
            case when c.ChargeCategory <> 'Tax' and c.PricingQuantity is not null then c.PricingUnit end as PricingUnit
        )
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
        -- (a source that reports only a pricing quantity consumed that quantity; a quantity goes only with its unit)
        case
            when ChargeCategory = 'Usage' and coalesce(CommitmentDiscountStatus, '') <> 'Unused'
                then case when ConsumedUnit is not null and ConsumedQuantity is not null then ConsumedQuantity
                    else PricingQuantity end
        end as ConsumedQuantity,
        -- a vendor API report names no billing account: the source stands for it, so FOCUS tools can group by it
        coalesce(BillingAccountId, 'apportion:' || x_Source) as BillingAccountId,
        -- FOCUS wants a display name wherever one can be given: without the source's, the account's id
        coalesce(BillingAccountName, BillingAccountId, 'apportion:' || x_Source) as BillingAccountName,
        coalesce(BillingAccountType, case when BillingAccountId is null then 'apportion source' else 'Billing Account' end)
            as BillingAccountType,
        BillingCurrency,
        coalesce(BillingPeriodStart, date_trunc('month', $charge_date::date)::timestamptz) as BillingPeriodStart,
        coalesce(BillingPeriodEnd, (date_trunc('month', $charge_date::date) + interval 1 month)::timestamptz)
            as BillingPeriodEnd,
        -- a line spread over several days is exported as its share of this day
        greatest(ChargePeriodStart, $charge_date::date::timestamptz) as ChargePeriodStart,
        least(ChargePeriodEnd, ($charge_date::date + 1)::timestamptz) as ChargePeriodEnd,
        ChargeCategory,
        ChargeClass,
        ListUnitPrice,
        ContractedUnitPrice,
        -- a line is priced in its billing currency, at its unit prices and cost, unless the source gives its cost in
        -- a pricing currency of its own
        case when PricingCurrencyEffectiveCost is not null then coalesce(PricingCurrency, BillingCurrency)
            else BillingCurrency end as PricingCurrency,
        PricingCurrencyListUnitPrice,
        PricingCurrencyContractedUnitPrice,
        PricingCurrencyEffectiveCost,
        -- FOCUS: a charge should say what it is; without the source's words, its service and SKU or category
        coalesce(ChargeDescription, concat_ws(': ', ServiceName, coalesce(SkuMeter, SkuId, ChargeCategory)))
            as ChargeDescription,
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
        case when CapacityReservationId is not null then CapacityReservationStatus end as CapacityReservationStatus,
        CommitmentDiscountCategory,
        CommitmentDiscountId,
        -- a status without the commitment it is of says nothing: FOCUS wants it null then
        case when CommitmentDiscountId is not null then CommitmentDiscountStatus end as CommitmentDiscountStatus,
        CommitmentDiscountType,
        case when CommitmentDiscountId is not null then CommitmentDiscountName end as CommitmentDiscountName,
        -- FOCUS: a quantity on usage and purchases of a commitment. Without the source's: a usage commitment's is the
        -- line's pricing quantity and unit, a spend commitment's the amount it covered (usage: the effective cost;
        -- a purchase: the billed cost) in the billing currency
        case
            when CommitmentDiscountId is null or ChargeCategory not in ('Usage', 'Purchase') then null
            when CommitmentDiscountQuantity is not null then CommitmentDiscountQuantity
            when CommitmentDiscountCategory = 'Spend' and ChargeCategory = 'Usage' then EffectiveCost
            when CommitmentDiscountCategory = 'Spend' then BilledCost
            when PricingUnit is not null then PricingQuantity
        end as CommitmentDiscountQuantity,
        case
            when CommitmentDiscountId is null or ChargeCategory not in ('Usage', 'Purchase') then null
            when CommitmentDiscountQuantity is not null then CommitmentDiscountUnit
            when CommitmentDiscountCategory = 'Spend' then BillingCurrency
            when PricingQuantity is not null then PricingUnit
        end as CommitmentDiscountUnit,
        case
            when ChargeCategory = 'Usage' and coalesce(CommitmentDiscountStatus, '') <> 'Unused'
                then case when ConsumedUnit is not null and ConsumedQuantity is not null then ConsumedUnit
                    else PricingUnit end
        end as ConsumedUnit,
        InvoiceId,
        coalesce(InvoiceIssuerName, ServiceProviderName) as InvoiceIssuerName,
        coalesce(ServiceProviderName, InvoiceIssuerName) as ServiceProviderName,
        coalesce(HostProviderName, ServiceProviderName, InvoiceIssuerName) as HostProviderName,
        -- FOCUS <= 1.2 names. ProviderName made the charge available to the payer: the invoice issuer (FOCUS 1.2
        -- requires BilledCost 0 where the two differ: a charge paid to a third party), else the host
        coalesce(InvoiceIssuerName, HostProviderName, ServiceProviderName) as ProviderName,
        coalesce(ServiceProviderName, InvoiceIssuerName) as PublisherName,
        PricingCategory,
        PricingUnit,
        RegionId,
        -- a region without a display name is named by its id
        case when RegionId is not null then coalesce(RegionName, RegionId) end as RegionName,
        AvailabilityZone,
        ResourceId,
        ResourceName,
        -- a resource of unknown type is a resource of its service
        case when ResourceId is not null then coalesce(ResourceType, ServiceName, ServiceProviderName) end
            as ResourceType,
        coalesce(ServiceCategory, 'Other') as ServiceCategory,
        coalesce(ServiceName, ServiceProviderName, InvoiceIssuerName) as ServiceName,
        ServiceSubcategory,
        -- a vendor meter with no SKU id (an API cost report's token type): the provider, model and meter identify it
        coalesce(SkuId, case when SkuMeter is not null then concat_ws('/', x_Provider, x_Model, SkuMeter) end) as SkuId,
        SkuMeter,
        SkuPriceId,
        SkuPriceDetails,
        SubAccountId,
        case when SubAccountId is not null then coalesce(SubAccountName, SubAccountId) end as SubAccountName,
        case when SubAccountId is not null then coalesce(SubAccountType, 'Sub Account') end as SubAccountType,
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
        * replace (
            coalesce(ServiceSubcategory, 'Other (' || ServiceCategory || ')') as ServiceSubcategory,
            -- a SKU that names no meter is its own meter
            coalesce(SkuMeter, SkuId) as SkuMeter,
            -- FOCUS: unit prices on usage and purchases, never on tax. Without the source's: the cost over the
            -- pricing quantity (to 1e-18), so price × quantity gives the cost back
            case
                when ChargeCategory = 'Tax' then null
                when ListUnitPrice is not null then ListUnitPrice
                when ChargeCategory in ('Usage', 'Purchase') then unit_price(ListCost, PricingQuantity)
            end as ListUnitPrice,
            case
                when ChargeCategory = 'Tax' then null
                when ContractedUnitPrice is not null then ContractedUnitPrice
                when ChargeCategory in ('Usage', 'Purchase') then unit_price(ContractedCost, PricingQuantity)
            end as ContractedUnitPrice,
            -- in the pricing currency: the source's, else (priced in the billing currency) the unit prices and cost
            case
                when ChargeCategory = 'Tax' then null
                when PricingCurrencyListUnitPrice is not null then PricingCurrencyListUnitPrice
                when PricingCurrency = BillingCurrency then coalesce(ListUnitPrice,
                    case when ChargeCategory in ('Usage', 'Purchase') then unit_price(ListCost, PricingQuantity) end)
            end as PricingCurrencyListUnitPrice,
            case
                when ChargeCategory = 'Tax' then null
                when PricingCurrencyContractedUnitPrice is not null then PricingCurrencyContractedUnitPrice
                when PricingCurrency = BillingCurrency then coalesce(ContractedUnitPrice,
                    case when ChargeCategory in ('Usage', 'Purchase') then unit_price(ContractedCost, PricingQuantity) end)
            end as PricingCurrencyContractedUnitPrice,
            coalesce(PricingCurrencyEffectiveCost, case when PricingCurrency = BillingCurrency then EffectiveCost end)
                as PricingCurrencyEffectiveCost,
            -- a SKU priced by one price: the SKU id stands for its price's (FOCUS: SkuPriceId MAY equal SkuId)
            case when ChargeCategory <> 'Tax' then coalesce(SkuPriceId, SkuId) end as SkuPriceId,
            case when ChargeCategory <> 'Tax' and coalesce(SkuPriceId, SkuId) is not null then SkuPriceDetails end
                as SkuPriceDetails
        ),
        cast(metric_amount * 10000000000 as hugeint) as metric_units,
        cast(BilledCost * 10000000000 as hugeint) as billed_units,
        cast(EffectiveCost * 10000000000 as hugeint) as effective_units,
        cast(ListCost * 10000000000 as hugeint) as list_units,
        cast(ContractedCost * 10000000000 as hugeint) as contracted_units,
        cast(PricingQuantity * 10000000000 as hugeint) as pricing_quantity_units,
        cast(ConsumedQuantity * 10000000000 as hugeint) as consumed_quantity_units,
        cast(coalesce(PricingCurrencyEffectiveCost, case when PricingCurrency = BillingCurrency then EffectiveCost end)
            * 10000000000 as hugeint) as pricing_currency_effective_units,
        cast(CommitmentDiscountQuantity * 10000000000 as hugeint) as commitment_quantity_units
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
