-- model_scorecard: which models to standardize on; one row per provider × model × feature over the last
-- `scorecard_days` days. Cost per successful call is the billed cost fact_cost puts on the model's calls (for a
-- self-hosted model, its GPUs) over the successful calls, so failed attempts are paid for; latency is of successful
-- calls (exact quantiles from the daily latency counts); rank_in_feature orders the models of a feature with at least `min_calls` calls by that cost.
-- reads: daily_models, daily_latencies
-- params: $period_start, $as_of, $min_calls
-- output: the model_scorecard mart
with scored as (
    select
        provider,
        model,
        feature,
        sum(calls) as calls,
        sum(successful_calls) as successful_calls,
        sum(failed_calls) as failed_calls,
        sum(retries) as retries,
        sum(unpriced_calls) as unpriced_calls,
        sum(list_usd) as list_usd,
        sum(input_tokens) as input_tokens,
        sum(output_tokens) as output_tokens,
        sum(cache_read_tokens) as cache_read_tokens
    from daily_models
    where charge_date between $period_start and $as_of
        and calls is not null
    group by provider, model, feature
),

latencies as (
    select
        provider,
        model,
        feature,
        latency_ms,
        sum(calls) as calls
    from daily_latencies
    where charge_date between $period_start and $as_of
    group by provider, model, feature, latency_ms
),

ranked as (
    -- each latency holds the 0-based ranks [first_rank, first_rank + calls) of the sorted successful calls
    select
        *,
        sum(calls) over (partition by provider, model, feature order by latency_ms) - calls as first_rank,
        (sum(calls) over (partition by provider, model, feature) - 1)::double as last_rank
    from latencies
),

quantiles as (
    -- quantile_cont: the values at ranks floor(q (n - 1)) and ceil(q (n - 1)), interpolated
    select
        provider,
        model,
        feature,
        any_value(last_rank) as last_rank,
        min(latency_ms) filter (where first_rank + calls > floor(0.5 * last_rank)) as p50_lo,
        min(latency_ms) filter (where first_rank + calls > ceil(0.5 * last_rank)) as p50_hi,
        min(latency_ms) filter (where first_rank + calls > floor(0.95 * last_rank)) as p95_lo,
        min(latency_ms) filter (where first_rank + calls > ceil(0.95 * last_rank)) as p95_hi
    from ranked
    group by provider, model, feature
),

billed as (
    select
        provider,
        model,
        feature,
        sum(billed_usd) as billed_usd
    from daily_models
    where charge_date between $period_start and $as_of
        and billed_usd is not null
    group by provider, model, feature
),

ratios as (
    select
        s.*,
        q.p50_lo + (q.p50_hi - q.p50_lo) * (0.5 * q.last_rank - floor(0.5 * q.last_rank)) as p50_latency_ms,
        q.p95_lo + (q.p95_hi - q.p95_lo) * (0.95 * q.last_rank - floor(0.95 * q.last_rank)) as p95_latency_ms,
        coalesce(b.billed_usd, 0) as billed_usd,
        cast(coalesce(b.billed_usd, 0) / nullif(s.successful_calls, 0) as decimal(38, 10)) as usd_per_successful_call,
        cast(s.list_usd / nullif(s.successful_calls, 0) as decimal(38, 10)) as list_usd_per_successful_call,
        s.calls >= $min_calls and s.successful_calls > 0 as ranked
    from scored s
    left join quantiles q
        on s.provider is not distinct from q.provider
        and s.model = q.model
        and s.feature = q.feature
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
