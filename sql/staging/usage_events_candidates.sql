-- usage_events_candidates: the typed calls of one source that happened on $event_date; a request id seen again
-- (the same call logged twice, a log delivered twice) is marked with where it was first seen
create or replace temp table usage_events_candidates as
with in_day as (
    select *
    from src_staged
    where event_time::date = $event_date::date
),

repeated as (
    select request_id
    from in_day
    where request_id is not null
    group by request_id
    having count(*) > 1
),

-- only the repeated ids are ranked, so the usual day (no repeats) costs one hash aggregate, not a sort
ranked as (
    select
        *,
        -- raw files are named <checksum>-<original name>: the original name orders them as delivered
        row_number() over first_seen as seen,
        first_value(parse_filename(_file)) over first_seen as first_file,
        first_value(_row) over first_seen as first_row
    from in_day
    where request_id in (select request_id from repeated)
    window first_seen as (partition by request_id order by substr(parse_filename(_file), 18), _file, _row)
)

select *, 1 as seen, null::varchar as first_file, null::bigint as first_row
from in_day
where request_id is null or request_id not in (select request_id from repeated)
union all
select * from ranked
