-- reconciliation: per day and configured source, the source's cost against what the fact table holds for it;
-- a source with no file that day, a file that could not be read, a share of a line waiting for its period's
-- usage (a usage spread), a saved page set whose last page says more follow, or quarantined cost above
-- $max_quarantined_share of the day's cost (|staged| + |quarantined|) makes the day incomplete for it, and
-- `incomplete_reason` says which in plain words (for a day that found nothing: where the source looked and what it
-- expected there, as raw landing recorded it in $found_nothing, one entry per source). For bills split by
-- list-priced calls, what the calls cost
-- at list price, the residual (billed - list: discounts, drift, calls never logged), the part of it the vendor's
-- usage report shows as calls never logged, and billed spend with no telemetry at all (from true_up)
-- reads: cost_lines_day, fact_day, ingest_log_day, manifest_day, quarantine_day, true_up_day
-- params: $charge_date, $cost_metric, $found_nothing, $max_quarantined_share, $reporting_currency, $source_kinds,
--   $source_names
-- output: the rows of the reconciliation partition of $charge_date
with sources as (
    select unnest($source_names) as source, unnest($source_kinds) as kind, unnest($found_nothing) as found_nothing
),

source_totals as (
    select
        x_Source as source,
        sum(case when $cost_metric = 'BilledCost' then BilledCost else EffectiveCost end) as total,
        sum(abs(case when $cost_metric = 'BilledCost' then BilledCost else EffectiveCost end)) as magnitude,
        count(*) as lines
    from cost_lines_day
    group by x_Source
),

fact_totals as (
    select
        source,
        sum(case when allocation_rule <> 'unallocated' then amount_usd else 0 end) as allocated,
        sum(case when allocation_rule = 'unallocated' then amount_usd else 0 end) as unallocated
    from fact_day
    group by source
),

quarantined as (
    select
        source,
        count(*) as rows_quarantined,
        -- a line spread by usage waits in quarantine until its period's usage is all staged
        count(*) filter (where column_name = 'x_SpreadMethod') as shares_waiting,
        -- a saved page set whose last page says more pages follow: the day's later pages are missing
        count(*) filter (where starts_with(reason, 'incomplete page set')) as page_sets_incomplete,
        -- a cost with no FX rate for the day is counted as written (the share is then an estimate, and says so)
        coalesce(sum(abs(coalesce(cost_reporting, cost))), 0) as cost,
        count(*) filter (where cost is not null and cost_reporting is null) as unvalued,
        string_agg(distinct cost_currency, ', ' order by cost_currency)
            filter (where cost is not null and cost_reporting is null) as unvalued_currencies
    from quarantine_day
    group by source
),

files as (
    select source, count(*) as files from manifest_day group by source
),

true_ups as (
    select
        source,
        sum(list_priced_usd) as list_priced,
        sum(case when status = 'scaled to bill' then residual_usd else 0 end) as residual,
        sum(unlogged_usd) as unlogged,
        sum(case when status = 'no telemetry' then billed_usd else 0 end) as no_telemetry
    from true_up_day
    group by source
),

unreadable as (
    select source, count(*) as files_unreadable, min(source_file || ': ' || unreadable_reason) as first_unreadable
    from ingest_log_day
    where unreadable_reason is not null
    group by source
)

select
    $charge_date::date as charge_date,
    s.source,
    s.kind,
    coalesce(f.files, 0) as files,
    coalesce(u.files_unreadable, 0) as files_unreadable,
    coalesce(t.lines, 0) as cost_lines,
    coalesce(q.rows_quarantined, 0) as rows_quarantined,
    coalesce(t.total, 0)::decimal(38, 10) as source_total,
    coalesce(a.allocated, 0)::decimal(38, 10) as allocated,
    coalesce(a.unallocated, 0)::decimal(38, 10) as unallocated,
    (coalesce(t.total, 0) - coalesce(a.allocated, 0) - coalesce(a.unallocated, 0))::decimal(38, 10) as difference,
    coalesce(x.list_priced, 0)::decimal(38, 10) as list_priced_usd,
    coalesce(x.residual, 0)::decimal(38, 10) as residual_usd,
    coalesce(x.unlogged, 0)::decimal(38, 10) as unlogged_usd,
    coalesce(x.no_telemetry, 0)::decimal(38, 10) as no_telemetry_usd,
    coalesce(q.cost, 0)::decimal(38, 10) as quarantined_cost,
    coalesce(f.files, 0) > 0 and coalesce(u.files_unreadable, 0) = 0 and coalesce(q.shares_waiting, 0) = 0
        and coalesce(q.page_sets_incomplete, 0) = 0 and not over_share as complete,
    case
        when coalesce(f.files, 0) = 0 then coalesce(s.found_nothing, 'no file landed for the day: land it first')
        when coalesce(u.files_unreadable, 0) > 0
            then u.files_unreadable::varchar || ' file(s) could not be read, e.g. ' || u.first_unreadable
        when coalesce(q.shares_waiting, 0) > 0
            then q.shares_waiting::varchar || ' share(s) of lines spread by usage wait for their period''s usage'
        when coalesce(q.page_sets_incomplete, 0) > 0
            then q.page_sets_incomplete::varchar || ' saved page set(s) whose last page says more follow'
        when over_share
            then format(
                'quarantined {} of the day''s {} {} ({} %), more than max_quarantined_share {} (apportion.yaml){}',
                round(q.cost, 2)::decimal(38, 2)::varchar,
                round(coalesce(t.magnitude, 0) + q.cost, 2)::decimal(38, 2)::varchar,
                $reporting_currency,
                round(100 * q.cost / (coalesce(t.magnitude, 0) + q.cost), 2)::decimal(38, 2)::varchar,
                $max_quarantined_share::double,
                case
                    when q.unvalued > 0 then format('; {} row(s) in {} with no FX rate counted as written',
                        q.unvalued, q.unvalued_currencies)
                    else ''
                end
            )
    end as incomplete_reason
from sources s
left join source_totals t on s.source = t.source
left join fact_totals a on s.source = a.source
left join quarantined q on s.source = q.source
left join files f on s.source = f.source
left join unreadable u on s.source = u.source
left join true_ups x on s.source = x.source,
lateral (
    select coalesce(q.cost, 0) > $max_quarantined_share * (coalesce(t.magnitude, 0) + coalesce(q.cost, 0)) as over_share
)
order by s.source
