-- winning_pieces: for each open line, the pieces of the first rule (by priority) that can split it. A rule can split
-- a line when it has pieces of positive weight other than 'calls never logged': calls the vendor counted but nobody
-- logged never make a rule take a line on their own
-- reads: candidate_pieces
-- params: none
-- output: temp table winning_pieces
create or replace temp table winning_pieces as
with totals as (
    select line_id, rule_name, priority
    from candidate_pieces
    group by line_id, rule_name, priority
    having coalesce(sum(weight) filter (where unallocated_reason is null), 0) > 0
),

winner as (
    select line_id, arg_min(rule_name, priority) as rule_name
    from totals
    group by line_id
)

select
    p.line_id,
    p.rule_name,
    p.method,
    p.team,
    p.feature,
    p.customer,
    p.agent,
    p.workflow,
    p.provider,
    p.model,
    p.is_retry,
    sum(p.weight) as weight,
    sum(p.input_tokens) as input_tokens,
    sum(p.output_tokens) as output_tokens,
    sum(p.requests) as requests,
    p.unallocated_reason,
    sum(p.list_price) as list_price,
    p.list_group
from candidate_pieces p
join winner w on p.line_id = w.line_id and p.rule_name = w.rule_name
group by p.line_id, p.rule_name, p.method, p.team, p.feature, p.customer, p.agent, p.workflow, p.provider, p.model,
    p.is_retry, p.unallocated_reason, p.list_group
