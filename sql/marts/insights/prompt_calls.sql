-- prompt_calls (temp table): every model call with a prompt hash, flagged when a response cache keyed on the
-- prompt would have served it: an exact hit repeats the prompt of a successful call on the same model at most
-- `cache_ttl` earlier; a near hit (not exact) follows such a call whose prompt's SimHash is at most `max_distance`
-- bits away (pairs from `prompt_neighbours`).
-- reads: priced_usage, prompt_neighbours
-- params: $as_of, $cache_ttl_s, $since
-- output: temp table prompt_calls
create or replace temp table prompt_calls as

with calls as (
    select
        row_number() over (order by x_Source, x_SourceFile, x_SourceRow) as call_id,
        event_date as charge_date,
        event_time,
        coalesce(team, 'unallocated') as team,
        coalesce(feature, 'unallocated') as feature,
        provider,
        model,
        prompt_hash,
        prompt_simhash,
        coalesce(status, 'ok') <> 'error' as succeeded,
        coalesce(list_cost, 0) as list_cost,
        max(case when coalesce(status, 'ok') <> 'error' then event_time end) over (
            partition by provider, model, prompt_hash
            order by event_time, x_Source, x_SourceFile, x_SourceRow
            rows between unbounded preceding and 1 preceding
        ) as previous_success
    from priced_usage
    where event_date between $since and $as_of
        and prompt_hash is not null
        and operation is distinct from 'vector_query'
),

neighbours as (
    select distinct
        provider,
        model,
        prompt_hash,
        neighbour
    from prompt_neighbours
),

successes as (
    select
        provider,
        model,
        prompt_hash,
        event_time
    from calls
    where succeeded
),

near_candidates as (
    select
        c.call_id,
        c.event_time,
        n.provider,
        n.model,
        n.neighbour
    from calls c
    inner join neighbours n
        on c.provider = n.provider
        and c.model = n.model
        and c.prompt_hash = n.prompt_hash
),

near_previous as (
    -- the latest successful call of any neighbour before the call
    select
        nc.call_id,
        max(s.event_time) as previous_near_success
    from near_candidates nc
    asof join successes s
        on nc.provider = s.provider
        and nc.model = s.model
        and nc.neighbour = s.prompt_hash
        and nc.event_time > s.event_time
    group by nc.call_id
)

select
    c.call_id,
    c.charge_date,
    c.team,
    c.feature,
    c.provider,
    c.model,
    c.prompt_hash,
    c.list_cost,
    coalesce(c.previous_success >= c.event_time - to_seconds($cache_ttl_s), false) as exact_hit,
    coalesce(c.previous_success >= c.event_time - to_seconds($cache_ttl_s), false) = false
    and coalesce(n.previous_near_success >= c.event_time - to_seconds($cache_ttl_s), false) as near_hit
from calls c
left join near_previous n
    on c.call_id = n.call_id
