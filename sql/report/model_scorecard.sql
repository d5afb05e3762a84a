-- model_scorecard: the model scorecard (the mart covers its own period), models of a feature by rank
-- reads: model_scorecard
-- params: none
-- output: (feature, provider/model, calls, cost per successful call, p50 and p95 latency, error, retry and cache
--   read rates, rank, period start, period end) rows
select
    feature,
    provider || '/' || model,
    calls,
    usd_per_successful_call,
    p50_latency_ms,
    p95_latency_ms,
    error_rate,
    retry_rate,
    cache_read_share,
    rank_in_feature,
    period_start,
    period_end
from model_scorecard
order by feature, rank_in_feature nulls last, calls desc
