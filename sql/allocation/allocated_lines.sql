-- allocated_lines: every piece of every cost line of the day; one row per line × rule × dimensions (× reason: the
-- 'calls never logged' piece of a usage rule). `list_price` is the list-priced cost of the logged calls behind a
-- piece of a list_cost rule (0 on its 'calls never logged' piece and on lines such a rule found no calls for), null
-- on pieces of other rules
-- reads: allocated, lines_day
-- params: $charge_date
-- output: the select of allocated_lines for $charge_date (the partition's rows)
select
    $charge_date::date as charge_date,
    a.line_id,
    l.x_Source as source,
    l.x_CostCategory as cost_category,
    l.BillingCurrency as billing_currency,
    a.rule_name as allocation_rule,
    a.method as allocation_method,
    a.team,
    a.feature,
    a.customer,
    a.agent,
    a.workflow,
    a.provider,
    a.model,
    a.is_retry,
    cast(a.units as decimal(38, 0)) * 0.0000000001 as amount,
    cast(l.amount_units as decimal(38, 0)) * 0.0000000001 as line_amount,
    cast(a.weight as double) / cast(a.total_weight as double) as ratio,
    a.weight::varchar as weight,
    a.total_weight::varchar as total_weight,
    a.input_tokens::bigint as driver_input_tokens,
    a.output_tokens::bigint as driver_output_tokens,
    a.requests::bigint as driver_requests,
    a.unallocated_reason,
    cast(a.list_price as decimal(38, 0)) * 0.0000000001 as list_price
from allocated a
join lines_day l on a.line_id = l.line_id
order by
    a.line_id, a.rule_name, a.team, a.feature, a.customer, a.agent, a.workflow, a.provider, a.model, a.is_retry,
    a.unallocated_reason
