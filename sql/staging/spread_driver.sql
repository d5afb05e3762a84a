-- spread_driver: one row per staged day with usage: the day's usage driver of a cost source spread by usage, in
-- integer units (requests and tokens as counted; a metric's quantity in units of 1e-10), over the usage rows whose
-- columns have the configured values (a null list = any value). Requests and tokens count as in the allocation's
-- usage drivers (sql/allocation/usage_drivers.sql)
-- reads: spread_usage_events, spread_usage_metrics
-- params: $driver, $m_agent, $m_api_key_id, $m_customer, $m_feature, $m_model, $m_operation, $m_provider,
--   $m_resource_id, $m_service_tier, $m_team, $m_workflow, $metric
-- output: temp table spread_driver
create or replace temp table spread_driver as
with events as (
    select
        event_time::date as usage_date,
        case $driver
            when 'requests' then coalesce(request_count, case when operation like '%:bucket%' then 0 else 1 end)
            when 'tokens' then coalesce(input_tokens, 0) + coalesce(output_tokens, 0)
            when 'input_tokens' then coalesce(input_tokens, 0)
            when 'output_tokens' then coalesce(output_tokens, 0)
        end::hugeint as units
    from spread_usage_events
    where
        $metric::varchar is null
        and ($m_provider::varchar[] is null or list_contains($m_provider::varchar[], provider))
        and ($m_model::varchar[] is null or list_contains($m_model::varchar[], model))
        and ($m_operation::varchar[] is null or list_contains($m_operation::varchar[], operation))
        and ($m_api_key_id::varchar[] is null or list_contains($m_api_key_id::varchar[], api_key_id))
        and ($m_service_tier::varchar[] is null or list_contains($m_service_tier::varchar[], service_tier))
        and ($m_team::varchar[] is null or list_contains($m_team::varchar[], team))
        and ($m_feature::varchar[] is null or list_contains($m_feature::varchar[], feature))
        and ($m_customer::varchar[] is null or list_contains($m_customer::varchar[], customer))
        and ($m_agent::varchar[] is null or list_contains($m_agent::varchar[], agent))
        and ($m_workflow::varchar[] is null or list_contains($m_workflow::varchar[], workflow))
),

metrics as (
    select
        metric_time::date as usage_date,
        cast(quantity * 10000000000 as hugeint) as units
    from spread_usage_metrics
    where
        metric = $metric::varchar
        and ($m_provider::varchar[] is null or list_contains($m_provider::varchar[], provider))
        and ($m_resource_id::varchar[] is null or list_contains($m_resource_id::varchar[], resource_id))
        and ($m_team::varchar[] is null or list_contains($m_team::varchar[], team))
        and ($m_feature::varchar[] is null or list_contains($m_feature::varchar[], feature))
        and ($m_customer::varchar[] is null or list_contains($m_customer::varchar[], customer))
        and ($m_agent::varchar[] is null or list_contains($m_agent::varchar[], agent))
        and ($m_workflow::varchar[] is null or list_contains($m_workflow::varchar[], workflow))
),

usage as (
    select * from events
    union all
    select * from metrics
)

-- a day whose corrections net below zero drives nothing (a share never flips the sign of its line)
select usage_date, sum(units)::hugeint as units
from usage
group by usage_date
having sum(units) > 0
