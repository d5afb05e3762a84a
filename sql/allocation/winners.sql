-- winning_pieces: for each open line, the pieces of the first rule (by priority) that can split it
create or replace temp table winning_pieces as
with totals as (
    select line_id, rule_name, priority, sum(weight) as rule_weight
    from candidate_pieces
    group by line_id, rule_name, priority
    having sum(weight) > 0
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
    sum(p.requests) as requests
from candidate_pieces p
join winner w on p.line_id = w.line_id and p.rule_name = w.rule_name
group by p.line_id, p.rule_name, p.method, p.team, p.feature, p.customer, p.agent, p.workflow, p.provider, p.model,
    p.is_retry
