-- usage_events_duplicates: the calls of one source on $event_date whose request id was already seen (the same call
-- logged twice, a log delivered twice), with where it was first seen. Only ids whose hash repeats are ranked, so
-- the usual day (no repeats) costs one aggregate over 8-byte hashes, not a sort or a table of every id
-- reads: src_staged
-- params: $event_date
-- output: temp table usage_events_duplicates
create or replace temp table usage_events_duplicates as
with in_day as (
    select _file, _row, request_id
    from src_staged
    where event_time::date = $event_date::date and request_id is not null
),

repeated_hashes as (
    select hash(request_id) as id_hash
    from in_day
    group by id_hash
    having count(*) > 1
),

ranked as (
    select
        _file,
        _row,
        request_id,
        row_number() over first_seen as seen,
        first_value(parse_filename(_file)) over first_seen as first_file,
        first_value(_row) over first_seen as first_row
    from in_day
    where hash(request_id) in (select id_hash from repeated_hashes)
    -- raw files are named <checksum>-<original name>: the original name orders them as delivered
    window first_seen as (partition by request_id order by substr(parse_filename(_file), 18), _file, _row)
)

select _file, _row, request_id, first_file, first_row
from ranked
where seen > 1
