-- prompt_duplication, one day: what a response cache would have saved; one row per day × team × feature ×
-- provider × model of calls with a prompt hash. Savings are the hit calls' cost at their dated list prices
-- (estimates: a cache has its own costs). Near duplicates need `prompt_simhash` from the usage source.
-- reads: prompt_calls
-- params: none
-- output: the day's rows of the prompt_duplication mart
select
    charge_date,
    team,
    feature,
    provider,
    model,
    count(*)::bigint as calls,
    count(distinct prompt_hash)::bigint as prompts,
    count(*) filter (where exact_hit)::bigint as exact_repeat_calls,
    coalesce(sum(list_cost) filter (where exact_hit), 0)::decimal(38, 10) as exact_savings_usd,
    count(*) filter (where near_hit)::bigint as near_duplicate_calls,
    coalesce(sum(list_cost) filter (where near_hit), 0)::decimal(38, 10) as near_savings_usd,
    sum(list_cost)::decimal(38, 10) as list_usd,
    cast(
        sum(list_cost) filter (where exact_hit or near_hit) / nullif(sum(list_cost), 0) as decimal(10, 6)
    ) as savings_share
from prompt_calls
group by charge_date, team, feature, provider, model
order by charge_date, team, feature, provider, model
