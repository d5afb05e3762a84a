-- latencies (daily): how many of the day's successful model calls took each latency, per provider × model × feature;
-- exact quantiles over any window come from these counts (latencies repeat, so this is far smaller than the calls).
-- reads: priced_usage
-- params: $day
-- output: one row per day × provider × model × feature × latency
select
    event_date as charge_date,
    provider,
    model,
    coalesce(feature, 'unallocated') as feature,
    latency_ms,
    count(*)::bigint as calls
from priced_usage
where event_date = $day
    and model is not null
    and operation is distinct from 'vector_query'
    and coalesce(status, 'ok') <> 'error'
    and latency_ms is not null
group by all
