-- ingest_log: per source file read for $charge_date (one with no record too): rows in (counted apart from the
-- parse, in delivery_files) = rows valid + rows quarantined (over all its days), and the valid rows that could not
-- be staged on this day (rows_rejected_on_day, also in quarantine)
-- reads: files_read, delivery_files, src_staged, src_rejected, unreadable, day_rejected
-- params: $kind, $source
-- output: the rows of the ingest_log partition of the source and day
with read_rows as (
    select f._file, coalesce(n.rows_in, 0) as rows_read
    from files_read f
    left join delivery_files n on f._file = n._file
),

staged as (
    select _file, count(*) as rows_valid from src_staged group by _file
),

rejected as (
    select source_file as _file, count(*) as rows_quarantined from src_rejected group by source_file
),

rejected_on_day as (
    select source_file, count(*) as rows_rejected_on_day from day_rejected group by source_file
)

select
    $source as source,
    $kind as kind,
    parse_filename(r._file) as source_file,
    r.rows_read,
    coalesce(s.rows_valid, 0) as rows_valid,
    coalesce(q.rows_quarantined, 0) as rows_quarantined,
    r.rows_read = coalesce(s.rows_valid, 0) + coalesce(q.rows_quarantined, 0) as balanced,
    coalesce(d.rows_rejected_on_day, 0) as rows_rejected_on_day,
    null::varchar as unreadable_reason
from read_rows r
left join staged s on r._file = s._file
left join rejected q on r._file = q._file
left join rejected_on_day d on parse_filename(r._file) = d.source_file
union all
select $source, $kind, source_file, 0, 0, 0, true, 0, reason
from unreadable
order by source_file
