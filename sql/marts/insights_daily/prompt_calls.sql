-- prompt_calls (temp table): the day's model calls with a prompt hash, flagged when a response cache keyed on the
-- prompt would have served it: an exact hit repeats the prompt of a successful call on the same model at most
-- `cache_ttl` earlier; a near hit (not exact) follows such a call whose prompt's SimHash is at most `max_distance`
-- bits away (pairs from `prompt_neighbours`). Successes of the days before come from their daily aggregates
-- (`prompt_history`: the last successful call of each prompt a day), so the day reads no earlier call.
-- reads: priced_usage, prompt_history, prompt_neighbours
-- params: $day, $cache_ttl_s
-- output: temp table prompt_calls
create or replace temp table prompt_calls as

with day_calls as (
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
        ) as previous_success_today
    from priced_usage
    where event_date = $day
        and prompt_hash is not null
        and operation is distinct from 'vector_query'
),

earlier as (
    -- the last success of each prompt on the days before, within the window
    select
        provider,
        model,
        prompt_hash,
        max(last_success) as last_success
    from prompt_history
    where last_success is not null
    group by provider, model, prompt_hash
),

calls as (
    select
        c.*,
        greatest(c.previous_success_today, e.last_success) as previous_success
    from day_calls c
    left join earlier e
        on c.provider is not distinct from e.provider
        and c.model is not distinct from e.model
        and c.prompt_hash = e.prompt_hash
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
    union all
    select
        provider,
        model,
        prompt_hash,
        last_success as event_time
    from earlier
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
    c.event_time,
    c.team,
    c.feature,
    c.provider,
    c.model,
    c.prompt_hash,
    c.prompt_simhash,
    c.succeeded,
    c.list_cost,
    coalesce(c.previous_success >= c.event_time - to_seconds($cache_ttl_s), false) as exact_hit,
    coalesce(c.previous_success >= c.event_time - to_seconds($cache_ttl_s), false) = false
    and coalesce(n.previous_near_success >= c.event_time - to_seconds($cache_ttl_s), false) as near_hit
from calls c
left join near_previous n
    on c.call_id = n.call_id
