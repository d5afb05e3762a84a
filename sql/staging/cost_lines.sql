-- cost_lines_candidates: the typed rows of one source that charge on $charge_date, with their share of that day
-- (a line whose charge period spans several days puts on each day the part `line_spread` gives it: evenly, or by a
-- usage driver; the shares of its days telescope to the whole exactly),
-- converted to the reporting currency at the day's dated FX rate (day_fx); a line with no rate, or whose usage
-- driver is not staged for its whole period, carries its reject reason
-- reads: src_staged, line_spread, day_fx
-- params: $charge_date, $max_fx_age_days, $reporting_currency, $source
-- output: script: temp macro day_share, temp table cost_lines_candidates

-- the day's part of an amount: its units of 1e-10 through the day minus through the day before, so the parts of
-- the days of a period telescope to the whole exactly and never flip its sign
create or replace temp macro day_share(amount, w_before, w_through, w_total) as
    cast(
        (cast(amount * 10000000000 as hugeint) * w_through) // w_total
        - (cast(amount * 10000000000 as hugeint) * w_before) // w_total
        as decimal(38, 0)
    ) * 0.0000000001;

create or replace temp table cost_lines_candidates as
with in_day as (
    select
        l.*,
        s.w_before,
        s.w_through,
        s.w_total,
        s.spread_method as x_SpreadMethod,
        s.spread_reason
    from src_staged l
    join line_spread s on l._file = s._file and l._row = s._row
    -- the lines of line_spread, filtered again so that the scan of the delivery reads only the day's (see line_spread)
    where
        l.ChargePeriodStart < ($charge_date::date + 1)::timestamptz
        and l.ChargePeriodEnd > $charge_date::date::timestamptz
),

day_share as (
    select
        * exclude (
            BilledCost, EffectiveCost, ListCost, ContractedCost, PricingQuantity, ConsumedQuantity,
            PricingCurrencyEffectiveCost, CommitmentDiscountQuantity, w_before, w_through, w_total
        ),
        day_share(BilledCost, w_before, w_through, w_total) as BilledCost,
        day_share(EffectiveCost, w_before, w_through, w_total) as EffectiveCost,
        day_share(ListCost, w_before, w_through, w_total) as ListCost,
        day_share(ContractedCost, w_before, w_through, w_total) as ContractedCost,
        day_share(PricingQuantity, w_before, w_through, w_total) as PricingQuantity,
        day_share(ConsumedQuantity, w_before, w_through, w_total) as ConsumedQuantity,
        day_share(PricingCurrencyEffectiveCost, w_before, w_through, w_total) as PricingCurrencyEffectiveCost,
        day_share(CommitmentDiscountQuantity, w_before, w_through, w_total) as CommitmentDiscountQuantity
    from in_day
),

converted as (
    select
        d.*,
        case when upper(d.BillingCurrency) = $reporting_currency then 1 else fx.rate end as fx_rate
    from day_share d
    left join day_fx fx on upper(d.BillingCurrency) = fx.currency
)

select
    * exclude (
        BilledCost, EffectiveCost, ListCost, ContractedCost, ListUnitPrice, ContractedUnitPrice, BillingCurrency,
        x_OriginalCurrency, x_FxRate, fx_rate, x_SpreadMethod, spread_reason
    ),
    cast(BilledCost * fx_rate as decimal(38, 10)) as BilledCost,
    cast(EffectiveCost * fx_rate as decimal(38, 10)) as EffectiveCost,
    cast(ListCost * fx_rate as decimal(38, 10)) as ListCost,
    cast(ContractedCost * fx_rate as decimal(38, 10)) as ContractedCost,
    -- unit prices are in the billing currency too; the pricing currency's prices and cost stay as they are
    cast(ListUnitPrice * fx_rate as decimal(38, 18)) as ListUnitPrice,
    cast(ContractedUnitPrice * fx_rate as decimal(38, 18)) as ContractedUnitPrice,
    $reporting_currency as BillingCurrency,
    upper(BillingCurrency) as x_OriginalCurrency,
    cast(fx_rate as decimal(38, 10)) as x_FxRate,
    -- the day's share as written, before conversion: what quarantine shows of a line rejected for the day
    BilledCost as _billed_as_written,
    EffectiveCost as _effective_as_written,
    $source as x_Source,
    md5($source || '|' || parse_filename(_file) || '|' || _row::varchar) as x_LineId,
    x_SpreadMethod,
    case
        when spread_reason is not null then spread_reason
        when fx_rate is null then 'no FX rate for ' || upper(BillingCurrency) || ' to ' || $reporting_currency
            || ' dated at most ' || $max_fx_age_days::varchar || ' days before ' || $charge_date::varchar
    end as reject_reason
from converted
