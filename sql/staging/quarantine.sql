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
union all
select $charge_date::date as charge_date, $source as source, source_file, source_row, column_name, reason, raw_value
from business_rejected
order by source_file, source_row
