-- quarantine_day: rows of one source rejected for $charge_date, with file, row, column and reason: rows that do
-- not fit the schema or have a value with no FOCUS mapping (or undated ones, from that day's own files), rows that
-- cannot be staged on that day, whole files that could not be read at all (no row, no column), and files of a set
-- that says it is not whole (the last saved API page says more follow). A rejected cost row says how much it is:
-- `cost` (the cost metric as written, in `cost_currency`; a line's share of the day when rejected for the day)
-- and `cost_reporting` (that cost in the reporting currency at the day's rate; null without a rate)
-- reads: src_rejected, day_rejected, unreadable, incomplete, day_fx
-- params: $charge_date, $source, $undated_here, $cost_metric, $reporting_currency
-- output: the quarantine rows of the source and day
with rejected as (
    select
        charge_date,
        parse_filename(source_file) as source_file,
        source_row,
        column_name,
        reason,
        raw_value,
        billed_cost,
        effective_cost,
        currency
    from src_rejected
    where charge_date = $charge_date::date or (charge_date is null and $undated_here)
    union all
    select
        $charge_date::date,
        source_file,
        source_row,
        column_name,
        reason,
        raw_value,
        billed_cost,
        effective_cost,
        currency
    from day_rejected
    union all
    select $charge_date::date, source_file, null, null, reason, null, null, null, null
    from unreadable
    union all
    select $charge_date::date, source_file, null, column_name, reason, null, null, null, null
    from incomplete
),

amounts as (
    select
        r.* exclude (billed_cost, effective_cost, currency),
        case when $cost_metric = 'BilledCost' then r.billed_cost else r.effective_cost end as cost,
        upper(r.currency) as cost_currency
    from rejected r
)

select
    a.charge_date,
    $source as source,
    a.source_file,
    a.source_row,
    a.column_name,
    a.reason,
    a.raw_value,
    a.cost,
    a.cost_currency,
    cast(a.cost * case when a.cost_currency = $reporting_currency then 1 else fx.rate end as decimal(38, 10))
        as cost_reporting
from amounts a
left join day_fx fx on a.cost_currency = fx.currency
order by a.source_file, a.source_row nulls first
