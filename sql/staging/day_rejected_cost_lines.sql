-- day_rejected: typed cost lines that cannot be staged on the day they charge (no FX rate for that day)
create or replace temp view day_rejected as
select
    parse_filename(_file) as source_file,
    _row as source_row,
    'BillingCurrency' as column_name,
    reject_reason as reason,
    x_OriginalCurrency as raw_value
from cost_lines_candidates
where reject_reason is not null
