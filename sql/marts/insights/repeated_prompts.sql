-- repeated_prompts: prompts sent more than once to the same model; one row per provider × model × prompt hash,
-- with the calls a response cache would have served (exact repeats within the TTL) and what they cost.
-- reads: prompt_calls
-- params: none
-- output: the rows of the repeated_prompts mart
select
    provider,
    model,
    prompt_hash,
    string_agg(distinct feature, ', ' order by feature) as features,
    min(charge_date) as first_seen,
    max(charge_date) as last_seen,
    count(*)::bigint as calls,
    count(*) filter (where exact_hit)::bigint as cache_hits,
    coalesce(sum(list_cost) filter (where exact_hit), 0)::decimal(38, 10) as savings_usd,
    sum(list_cost)::decimal(38, 10) as list_usd
from prompt_calls
group by provider, model, prompt_hash
having count(*) > 1
order by savings_usd desc, calls desc, provider, model, prompt_hash
