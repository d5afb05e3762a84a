-- repeated_prompts: prompts sent more than once to the same model; one row per provider × model × prompt hash,
-- from the prompts' daily aggregates, with the calls a response cache would have served (exact repeats within the TTL) and what they cost.
-- reads: daily_prompts
-- params: $since, $as_of
-- output: the repeated_prompts mart
select
    provider,
    model,
    prompt_hash,
    array_to_string(list_sort(list_distinct(flatten(list(features)))), ', ') as features,
    min(charge_date) as first_seen,
    max(charge_date) as last_seen,
    sum(calls)::bigint as calls,
    sum(cache_hits)::bigint as cache_hits,
    coalesce(sum(savings_usd), 0)::decimal(38, 10) as savings_usd,
    sum(list_usd)::decimal(38, 10) as list_usd
from daily_prompts
where charge_date between $since and $as_of
group by provider, model, prompt_hash
having sum(calls) > 1
order by savings_usd desc, calls desc, provider, model, prompt_hash
