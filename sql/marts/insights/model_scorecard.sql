-- model_scorecard: which models to standardize on; one row per provider × model × feature over the last
-- `scorecard_days` days. Cost per successful call is the billed cost fact_cost puts on the model's calls (for a
-- self-hosted model, its GPUs) over the successful calls, so failed attempts are paid for; latency is of successful
-- calls; rank_in_feature orders the models of a feature with at least `min_calls` calls by that cost.
-- reads: fact_cost, priced_usage
-- params: $as_of, $min_calls, $period_start
-- output: the rows of the model_scorecard mart
with calls as (
    select
        provider,
        model,
        coalesce(feature, 'unallocated') as feature,
        coalesce(status, 'ok') <> 'error' as succeeded,
        coalesce(attempt, 1) > 1 as is_retry,
        list_cost,
        latency_ms,
        coalesce(input_tokens, 0) as input_tokens,
        coalesce(cache_read_tokens, 0) as cache_read_tokens,
        coalesce(output_tokens, 0) as output_tokens
    from priced_usage
    where event_date between $period_start and $as_of
        and model is not null
        and operation is distinct from 'vector_query'
),

scored as (
    select
        provider,
        model,
        feature,
        count(*) as calls,
        count(*) filter (where succeeded) as successful_calls,
        count(*) filter (where not succeeded) as failed_calls,
        count(*) filter (where is_retry) as retries,
        count(*) filter (where list_cost is null) as unpriced_calls,
        sum(list_cost) as list_usd,
        sum(input_tokens) as input_tokens,
        sum(output_tokens) as output_tokens,
        sum(cache_read_tokens) as cache_read_tokens,
        quantile_cont(latency_ms, 0.5) filter (where succeeded) as p50_latency_ms,
        quantile_cont(latency_ms, 0.95) filter (where succeeded) as p95_latency_ms
    from calls
    group by provider, model, feature
),

billed as (
    select
        provider,
        model,
        feature,
        sum(amount_usd) as billed_usd
    from fact_cost
    where charge_date between $period_start and $as_of
        and model is not null
    group by provider, model, feature
),

ratios as (
    select
        s.*,
        coalesce(b.billed_usd, 0) as billed_usd,
        cast(coalesce(b.billed_usd, 0) / nullif(s.successful_calls, 0) as decimal(38, 10)) as usd_per_successful_call,
        cast(s.list_usd / nullif(s.successful_calls, 0) as decimal(38, 10)) as list_usd_per_successful_call,
        s.calls >= $min_calls and s.successful_calls > 0 as ranked
    from scored s
    left join billed b
        on s.provider = b.provider
        and s.model = b.model
        and s.feature = b.feature
)

select
    $period_start::date as period_start,
    $as_of::date as period_end,
    provider,
    model,
    feature,
    calls::bigint as calls,
    successful_calls::bigint as successful_calls,
    unpriced_calls::bigint as unpriced_calls,
    billed_usd::decimal(38, 10) as billed_usd,
    list_usd::decimal(38, 10) as list_usd,
    usd_per_successful_call,
    list_usd_per_successful_call,
    p50_latency_ms,
    p95_latency_ms,
    cast(failed_calls / calls as decimal(10, 6)) as error_rate,
    cast(retries / calls as decimal(10, 6)) as retry_rate,
    cast(cache_read_tokens / nullif(input_tokens, 0) as decimal(10, 6)) as cache_read_share,
    input_tokens::bigint as input_tokens,
    output_tokens::bigint as output_tokens,
    case when ranked then rank() over (partition by feature, ranked order by usd_per_successful_call) end
        as rank_in_feature
from ratios
order by feature, rank_in_feature nulls last, provider, model
