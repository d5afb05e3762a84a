-- quarantine_day: rows of one source rejected on $charge_date (or undated, from that day's own files), with reason
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
order by source_file, source_row
