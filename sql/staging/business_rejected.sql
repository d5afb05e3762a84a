-- business_rejected: typed cost lines of the day that cannot be used as they are (a currency with no FX rate)
create or replace temp view business_rejected as
select
    parse_filename(_file) as source_file,
    _row as source_row,
    'BillingCurrency' as column_name,
    reject_reason as reason,
    BillingCurrency as raw_value
from cost_lines_candidates
where reject_reason is not null
