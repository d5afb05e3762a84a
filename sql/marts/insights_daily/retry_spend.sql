-- retry_spend, one day: what retries and failures cost; one row per day × team × feature × agent × provider ×
-- model. A logical call is a first attempt and the retries (attempt > 1) that follow it in the same trace on the
-- same model and prompt, the same day. Failed attempts bought nothing: their list cost is the spend that errors
-- caused. Billed amounts of retry attempts come from fact_cost (is_retry); the rest is at the calls' dated list
-- prices.
-- reads: priced_usage, fact_cost
-- params: $day
-- output: the day's rows of the retry_spend mart
with calls as (
    select
        event_date as charge_date,
        event_time,
        coalesce(team, 'unallocated') as team,
        coalesce(feature, 'unallocated') as feature,
        coalesce(agent, 'unallocated') as agent,
        provider,
        model,
        coalesce(trace_id, request_id) as chain_id,
        prompt_hash,
        coalesce(attempt, 1) as attempt,
        coalesce(status, 'ok') = 'error' as failed,
        coalesce(list_cost, 0) as list_cost,
        x_Source,
        x_SourceFile,
        x_SourceRow
    from priced_usage
    where event_date = $day
        and operation is distinct from 'vector_query'
),

chained as (
    select
        *,
        sum(case when attempt = 1 then 1 else 0 end) over (
            partition by chain_id, team, feature, agent, provider, model, prompt_hash
            order by event_time, attempt, x_Source, x_SourceFile, x_SourceRow
            rows between unbounded preceding and current row
        ) as call_no
    from calls
),

logical as (
    select
        min(charge_date) as charge_date,
        team,
        feature,
        agent,
        provider,
        model,
        count(*) as attempts,
        count(*) filter (where failed) as failed_attempts,
        arg_max(failed, struct_pack(t := event_time, a := attempt, s := x_Source, f := x_SourceFile, r := x_SourceRow))
            as final_failed,
        sum(list_cost) as list_usd,
        coalesce(sum(list_cost) filter (where attempt > 1), 0) as retry_list_usd,
        coalesce(sum(list_cost) filter (where failed), 0) as failed_list_usd
    from chained
    group by chain_id, team, feature, agent, provider, model, prompt_hash, call_no
),

by_group as (
    select
        charge_date,
        team,
        feature,
        agent,
        provider,
        model,
        count(*) as calls,
        sum(attempts) as attempts,
        count(*) filter (where attempts > 1) as retried_calls,
        count(*) filter (where final_failed) as failed_calls,
        sum(attempts - 1) as retry_attempts,
        sum(failed_attempts) as failed_attempts,
        sum(list_usd) as list_usd,
        sum(retry_list_usd) as retry_list_usd,
        sum(failed_list_usd) as failed_list_usd,
        coalesce(sum(list_usd) filter (where attempts > 1 or final_failed), 0) as retried_or_failed_list_usd
    from logical
    group by charge_date, team, feature, agent, provider, model
),

billed as (
    select
        charge_date,
        team,
        feature,
        agent,
        provider,
        model,
        sum(amount_usd) as billed_usd,
        coalesce(sum(amount_usd) filter (where is_retry), 0) as billed_retry_usd
    from fact_cost
    where charge_date = $day
        and model is not null
    group by charge_date, team, feature, agent, provider, model
)

select
    g.charge_date,
    g.team,
    g.feature,
    g.agent,
    g.provider,
    g.model,
    g.calls::bigint as calls,
    g.attempts::bigint as attempts,
    g.retried_calls::bigint as retried_calls,
    g.failed_calls::bigint as failed_calls,
    g.retry_attempts::bigint as retry_attempts,
    g.failed_attempts::bigint as failed_attempts,
    g.list_usd::decimal(38, 10) as list_usd,
    g.retry_list_usd::decimal(38, 10) as retry_list_usd,
    g.failed_list_usd::decimal(38, 10) as failed_list_usd,
    g.retried_or_failed_list_usd::decimal(38, 10) as retried_or_failed_list_usd,
    cast(g.retry_list_usd / nullif(g.list_usd, 0) as decimal(10, 6)) as retry_share,
    cast(g.failed_list_usd / nullif(g.list_usd, 0) as decimal(10, 6)) as failed_share,
    coalesce(b.billed_usd, 0)::decimal(38, 10) as billed_usd,
    coalesce(b.billed_retry_usd, 0)::decimal(38, 10) as billed_retry_usd
from by_group g
left join billed b
    on g.charge_date = b.charge_date
    and g.team = b.team
    and g.feature = b.feature
    and g.agent = b.agent
    and g.provider = b.provider
    and g.model = b.model
order by g.charge_date, g.team, g.feature, g.agent, g.provider, g.model
