-- split: each won line's amount over its pieces by largest remainder, exact in units of 1e-10
-- reads: winning_pieces, lines_day, allocated
-- params: none
-- output: rows inserted into allocated: the pieces of the lines won in this segment
insert into allocated
with pieces as (
    select
        p.*,
        l.amount_units,
        sum(p.weight) over (partition by p.line_id) as total_weight
    from winning_pieces p
    join lines_day l on p.line_id = l.line_id
),

floored as (
    select
        *,
        (abs(amount_units) * weight) // total_weight as base_units,
        (abs(amount_units) * weight) % total_weight as remainder
    from pieces
),

ranked as (
    select
        *,
        abs(amount_units) - sum(base_units) over (partition by line_id) as leftover,
        row_number() over (
            partition by line_id
            order by
                remainder desc, team, feature, customer, agent, workflow, provider, model, is_retry, unallocated_reason
        ) as remainder_rank
    from floored
)

select
    line_id,
    rule_name,
    method,
    team,
    feature,
    customer,
    agent,
    workflow,
    provider,
    model,
    is_retry,
    weight,
    total_weight,
    sign(amount_units) * (base_units + case when remainder_rank <= leftover then 1 else 0 end) as units,
    input_tokens,
    output_tokens,
    requests,
    unallocated_reason,
    list_price,
    list_group
from ranked
