-- costs (daily): the day's cost per team, feature, agent and model, split by model; one row per day × dimension ×
-- value × model with the cost, requests, retried requests and tokens (what anomalies, budgets and the forecast read).
-- reads: fact_cost
-- params: $day
-- output: one row per day × dimension × value × model
with facts as (
    select
        charge_date,
        team,
        feature,
        agent,
        coalesce(model, 'unallocated') as model,
        amount_usd,
        input_tokens + output_tokens as tokens,
        requests,
        case when is_retry then requests else 0 end as retry_requests
    from fact_cost
    where charge_date = $day
),

dimensions as (
    select dimension from (values ('team'), ('feature'), ('agent'), ('model')) d(dimension)
)

select
    f.charge_date,
    d.dimension,
    case d.dimension
        when 'team' then f.team
        when 'feature' then f.feature
        when 'agent' then f.agent
        else f.model
    end as "value",
    f.model,
    sum(f.amount_usd) as cost_usd,
    sum(f.requests)::bigint as requests,
    sum(f.retry_requests)::bigint as retry_requests,
    sum(f.tokens)::bigint as tokens
from facts f
cross join dimensions d
group by all
