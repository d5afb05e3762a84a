-- day_rejected: calls of the day whose request id was already seen (kept once, the repeats quarantined)
-- reads: usage_events_duplicates
-- params: none
-- output: temp view day_rejected
create or replace temp view day_rejected as
select
    parse_filename(_file) as source_file,
    _row as source_row,
    'request_id' as column_name,
    'duplicate request_id, first seen in ' || first_file || ' row ' || first_row::varchar as reason,
    request_id as raw_value,
    null::decimal(38, 10) as billed_cost,
    null::decimal(38, 10) as effective_cost,
    null::varchar as currency
from usage_events_duplicates
