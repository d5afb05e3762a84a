-- prompts (daily): each prompt of the day on each model, for repeated prompts over any window and for the next days'
-- cache look-back: its SimHash, the features that sent it, its calls, exact cache hits and their list cost, and
-- the time of its last successful call.
-- reads: prompt_calls
-- params: $day
-- output: one row per provider × model × prompt hash of the day
select
    $day::date as charge_date,
    provider,
    model,
    prompt_hash,
    min(prompt_simhash) as simhash,
    max(event_time) filter (where succeeded) as last_success,
    list(distinct feature order by feature) as features,
    count(*)::bigint as calls,
    count(*) filter (where exact_hit)::bigint as cache_hits,
    coalesce(sum(list_cost) filter (where exact_hit), 0) as savings_usd,
    sum(list_cost) as list_usd
from prompt_calls
group by provider, model, prompt_hash
