-- day_rejected: typed cost lines that cannot be staged on the day they charge: the usage driver of their period is
-- not staged for every day yet, or there is no FX rate for that day; with the day's share of their cost as written
-- reads: cost_lines_candidates, line_spread
-- params: none
-- output: temp view day_rejected
create or replace temp view day_rejected as
select
    parse_filename(c._file) as source_file,
    c._row as source_row,
    case when s.spread_reason is not null then 'x_SpreadMethod' else 'BillingCurrency' end as column_name,
    c.reject_reason as reason,
    case when s.spread_reason is not null then s.spread_method else c.x_OriginalCurrency end as raw_value,
    -- the day's share of the line, in the currency the source wrote
    c._billed_as_written as billed_cost,
    c._effective_as_written as effective_cost,
    c.x_OriginalCurrency as currency
from cost_lines_candidates c
join line_spread s on c._file = s._file and c._row = s._row
where c.reject_reason is not null
