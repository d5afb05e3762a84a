-- cost_lines_candidates: the typed rows of one source that charge on $charge_date, with their share of that day
-- (a line whose charge period spans several days puts on each day the part `line_spread` gives it: evenly, or by a
-- usage driver; the shares of its days telescope to the whole exactly),
-- converted to the reporting currency at the day's dated FX rate; a line with no rate, or whose usage driver is not
-- staged for its whole period, carries its reject reason
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
),

units as (
    select
        *,
        cast(BilledCost * 10000000000 as hugeint) as billed_units,
        cast(EffectiveCost * 10000000000 as hugeint) as effective_units,
        cast(ListCost * 10000000000 as hugeint) as list_units,
        cast(ContractedCost * 10000000000 as hugeint) as contracted_units,
        cast(PricingQuantity * 10000000000 as hugeint) as pricing_quantity_units,
        cast(ConsumedQuantity * 10000000000 as hugeint) as consumed_quantity_units
    from in_day
),

day_share as (
    select
        * exclude (
            BilledCost, EffectiveCost, ListCost, ContractedCost, PricingQuantity, ConsumedQuantity, billed_units,
            effective_units, list_units, contracted_units, pricing_quantity_units, consumed_quantity_units,
            w_before, w_through, w_total
        ),
        cast(
            (billed_units * w_through) // w_total - (billed_units * w_before) // w_total
            as decimal(38, 0)
        ) * 0.0000000001 as BilledCost,
        cast(
            (effective_units * w_through) // w_total - (effective_units * w_before) // w_total
            as decimal(38, 0)
        ) * 0.0000000001 as EffectiveCost,
        cast(
            (list_units * w_through) // w_total - (list_units * w_before) // w_total
            as decimal(38, 0)
        ) * 0.0000000001 as ListCost,
        cast(
            (contracted_units * w_through) // w_total - (contracted_units * w_before) // w_total
            as decimal(38, 0)
        ) * 0.0000000001 as ContractedCost,
        cast(
            (pricing_quantity_units * w_through) // w_total - (pricing_quantity_units * w_before) // w_total
            as decimal(38, 0)
        ) * 0.0000000001 as PricingQuantity,
        cast(
            (consumed_quantity_units * w_through) // w_total - (consumed_quantity_units * w_before) // w_total
            as decimal(38, 0)
        ) * 0.0000000001 as ConsumedQuantity
    from units
),

-- the newest rate of each currency dated on or before the day, if it is recent enough
fx as (
    select currency, arg_max(rate, rate_date) as rate
    from fx_rates
    where rate_date <= $charge_date::date and rate_date >= $charge_date::date - $max_fx_age_days::integer
    group by currency
),

converted as (
    select
        d.*,
        case when upper(d.BillingCurrency) = $reporting_currency then 1 else fx.rate end as fx_rate
    from day_share d
    left join fx on upper(d.BillingCurrency) = fx.currency
)

select
    * exclude (
        BilledCost, EffectiveCost, ListCost, ContractedCost, BillingCurrency, x_OriginalCurrency, x_FxRate, fx_rate,
        x_SpreadMethod, spread_reason
    ),
    cast(BilledCost * fx_rate as decimal(38, 10)) as BilledCost,
    cast(EffectiveCost * fx_rate as decimal(38, 10)) as EffectiveCost,
    cast(ListCost * fx_rate as decimal(38, 10)) as ListCost,
    cast(ContractedCost * fx_rate as decimal(38, 10)) as ContractedCost,
    $reporting_currency as BillingCurrency,
    upper(BillingCurrency) as x_OriginalCurrency,
    cast(fx_rate as decimal(38, 10)) as x_FxRate,
    $source as x_Source,
    md5($source || '|' || parse_filename(_file) || '|' || _row::varchar) as x_LineId,
    x_SpreadMethod,
    case
        when spread_reason is not null then spread_reason
        when fx_rate is null then 'no FX rate for ' || upper(BillingCurrency) || ' to ' || $reporting_currency
            || ' dated at most ' || $max_fx_age_days::varchar || ' days before ' || $charge_date::varchar
    end as reject_reason
from converted
