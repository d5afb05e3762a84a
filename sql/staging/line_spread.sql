-- line_spread: for each typed line of one cost source that charges on $charge_date, the part of the line that falls
-- on the day as two cumulative weights and a total: the day gets amount * w_through // w_total - amount * w_before
-- // w_total (in units of 1e-10, rounded toward zero), so the days of a period telescope to the amount exactly,
-- never flip its sign, and each day is computed alone.
-- even: day i of n has w_before = i - 1, w_through = i, w_total = n.
-- usage (the lines in usage_spread_lines): w_before and w_through are the period's usage driver (spread_driver) up
-- to the day before and up to the day (C_{d-1}, C_d), w_total the whole period's (C_n). Every day of the period must
-- be staged ($staged_days); otherwise the line carries a reason naming the missing days and is quarantined for the
-- day, never spread by a partial driver. A complete period without any usage is spread evenly and says so
-- (x_SpreadMethod 'even:no_usage').
-- reads: src_staged, usage_spread_lines, spread_driver
-- params: $charge_date, $spread_driver, $staged_days
-- output: temp table line_spread
create or replace temp table line_spread as
with lines as (
    select
        l._file,
        l._row,
        l.ChargePeriodStart::date as first_day,
        (l.ChargePeriodEnd - interval 1 microsecond)::date as last_day,
        u._row is not null as by_usage
    from src_staged l
    left join usage_spread_lines u on l._file = u._file and l._row = u._row
    -- charges on the day: starts before its end and ends after its start (the session is UTC). Plain comparisons
    -- of the columns, which the scan of the delivery evaluates first, reading the other columns of the day's lines only
    where
        l.ChargePeriodStart < ($charge_date::date + 1)::timestamptz
        and l.ChargePeriodEnd > $charge_date::date::timestamptz
),

period_days as (
    select _file, _row, unnest(generate_series(first_day, last_day, interval 1 day))::date as usage_date
    from lines
    where by_usage
),

-- missing days, as runs of consecutive days (a day minus its rank is constant along a run)
missing_runs as (
    select
        _file,
        _row,
        min(usage_date) as run_start,
        max(usage_date) as run_end
    from (
        select
            _file,
            _row,
            usage_date,
            usage_date - (row_number() over (partition by _file, _row order by usage_date))::integer as run
        from period_days
        where not list_contains($staged_days::date[], usage_date)
    )
    group by _file, _row, run
),

missing as (
    select
        _file,
        _row,
        string_agg(
            case
                when run_start = run_end then run_start::varchar
                else run_start::varchar || '..' || run_end::varchar
            end,
            ', ' order by run_start
        ) as days
    from missing_runs
    group by _file, _row
),

daily as (
    select p._file, p._row, p.usage_date, coalesce(d.units, 0) as units
    from period_days p
    left join spread_driver d on p.usage_date = d.usage_date
),

-- a period whose driver exceeds 1e18 units is counted in coarser units (each day's units // scale), so that
-- amount units * weight stays within hugeint; the days still add up to the same total, so shares telescope
scaled as (
    select
        _file,
        _row,
        usage_date,
        units // (sum(units) over (partition by _file, _row) // 1000000000000000000 + 1) as units
    from daily
),

cumulative as (
    select
        _file,
        _row,
        sum(case when usage_date < $charge_date::date then units else 0 end)::hugeint as w_before,
        sum(case when usage_date <= $charge_date::date then units else 0 end)::hugeint as w_through,
        sum(units)::hugeint as w_total
    from scaled
    group by _file, _row
)

select
    l._file,
    l._row,
    case
        when not l.by_usage then 'even'
        when c.w_total > 0 then 'usage:' || $spread_driver
        else 'even:no_usage'
    end as spread_method,
    case
        when c.w_total > 0 then c.w_before
        else date_diff('day', l.first_day, $charge_date::date)::hugeint
    end as w_before,
    case
        when c.w_total > 0 then c.w_through
        else date_diff('day', l.first_day, $charge_date::date)::hugeint + 1
    end as w_through,
    case
        when c.w_total > 0 then c.w_total
        else date_diff('day', l.first_day, l.last_day)::hugeint + 1
    end as w_total,
    case
        when m.days is not null then 'usage driver ' || $spread_driver || ' incomplete for the period '
            || l.first_day::varchar || '..' || l.last_day::varchar || ': ' || m.days
            || ' not staged; backfill the period when its usage is in'
    end as spread_reason
from lines l
left join cumulative c on l._file = c._file and l._row = c._row
left join missing m on l._file = m._file and l._row = m._row
