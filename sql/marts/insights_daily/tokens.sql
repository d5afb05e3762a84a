-- tokens (daily): prompt and response sizes of the day's successful model calls; one row per day × team × feature ×
-- agent: calls, token sums, means and p95s (the rolling token_growth mart reads these rows, not the calls).
-- reads: priced_usage
-- params: $day
-- output: one row per day × team × feature × agent
with calls as (
    select
        event_date as charge_date,
        coalesce(team, 'unallocated') as team,
        coalesce(feature, 'unallocated') as feature,
        coalesce(agent, 'unallocated') as agent,
        input_tokens,
        coalesce(output_tokens, 0) as output_tokens
    from priced_usage
    where event_date = $day
        and operation is distinct from 'vector_query'
        and input_tokens is not null
        and coalesce(status, 'ok') <> 'error'
)

select
    charge_date,
    team,
    feature,
    agent,
    count(*) as calls,
    sum(input_tokens)::bigint as input_tokens,
    sum(output_tokens)::bigint as output_tokens,
    avg(input_tokens) as mean_input_tokens,
    quantile_cont(input_tokens, 0.95) as p95_input_tokens,
    avg(output_tokens) as mean_output_tokens,
    quantile_cont(output_tokens, 0.95) as p95_output_tokens
from calls
group by charge_date, team, feature, agent
