-- unallocated: lines no rule could split, whole, with the reason from the first rule that matched them. A line whose
-- first rule splits by list-priced calls (`$list_cost_rules`) is billed spend with no telemetry: its list price is 0
-- reads: match_log, lines_day, allocated
-- params: $list_cost_rules
-- output: rows inserted into allocated: the lines still not taken, whole, with their reason
insert into allocated
with first_match as (
    select line_id, arg_min(rule_name, priority) as rule_name, arg_min(method, priority) as method
    from match_log
    where line_id in (select line_id from lines_day where not taken)
    group by line_id
)

select
    l.line_id,
    'unallocated' as rule_name,
    'unallocated' as method,
    null as team,
    null as feature,
    null as customer,
    null as agent,
    null as workflow,
    l.x_Provider as provider,
    l.x_Model as model,
    false as is_retry,
    1 as weight,
    1 as total_weight,
    l.amount_units as units,
    null as input_tokens,
    null as output_tokens,
    null as requests,
    case
        when f.rule_name is null then 'no rule matched'
        when f.method = 'tags' then f.rule_name || ': no value for its required dimensions'
        when f.method = 'usage' then f.rule_name || ': no usage for its join keys on this day'
        when f.method = 'cost' then f.rule_name || ': its basis rules allocated nothing on this day'
        else f.rule_name || ': no target'
    end as unallocated_reason,
    case when list_contains($list_cost_rules::varchar[], f.rule_name) then 0 end as list_price,
    null as list_group
from lines_day l
left join first_match f on l.line_id = f.line_id
where not l.taken
