-- quarantine_day: rows of one source rejected for $charge_date, with file, row, column and reason: rows that do
-- not fit the schema (or undated ones, from that day's own files), rows that cannot be staged on that day, and
-- whole files that could not be read at all (no row, no column), and files of a set that says it is not whole (the
-- last saved API page says more follow)
-- reads: src_rejected, day_rejected, unreadable, incomplete
-- params: $charge_date, $source, $undated_here
-- output: the rows of the quarantine partition of the source and day
select
    charge_date,
    $source as source,
    parse_filename(source_file) as source_file,
    source_row,
    column_name,
    reason,
    raw_value
from src_rejected
where charge_date = $charge_date::date or (charge_date is null and $undated_here)
union all
select
    $charge_date::date as charge_date,
    $source as source,
    source_file,
    source_row,
    column_name,
    reason,
    raw_value
from day_rejected
union all
select
    $charge_date::date as charge_date,
    $source as source,
    source_file,
    null as source_row,
    null as column_name,
    reason,
    null as raw_value
from unreadable
union all
select
    $charge_date::date as charge_date,
    $source as source,
    source_file,
    null as source_row,
    column_name,
    reason,
    null as raw_value
from incomplete
order by source_file, source_row nulls first
