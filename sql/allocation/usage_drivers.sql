-- usage_drivers: the day's priced calls and usage metrics at the grain allocation splits by. Rows of coverage
-- sources (vendor usage reports, `$coverage_sources`) are flagged: they never split a line, they only count the calls
-- the vendor served, to find those never logged
-- reads: priced_day, usage_metrics_day
-- params: $coverage_sources
-- output: temp table usage_drivers
create or replace temp table usage_drivers as
with calls as (
    select
        null::varchar as metric,
        list_contains($coverage_sources::varchar[], x_Source) as is_coverage,
        provider,
        model,
        catalog_model,
        operation,
        api_key_id,
        service_tier,
        null::varchar as resource_id,
        team,
        feature,
        customer,
        agent,
        workflow,
        coalesce(attempt, 1) > 1 as is_retry,
        sum(coalesce(list_cost, 0)) as list_cost,
        sum(coalesce(input_tokens, 0)) as input_tokens,
        sum(coalesce(output_tokens, 0)) as output_tokens,
        sum(coalesce(request_count, case when operation like '%:bucket%' then 0 else 1 end)) as requests,
        null::decimal(38, 10) as quantity
    from priced_day
    group by
        is_coverage, provider, model, catalog_model, operation, api_key_id, service_tier, team, feature, customer, agent, workflow,
        is_retry
),

metrics as (
    select
        metric,
        false as is_coverage,
        provider,
        null::varchar as model,
        null::varchar as catalog_model,
        null::varchar as operation,
        null::varchar as api_key_id,
        null::varchar as service_tier,
        resource_id,
        team,
        feature,
        customer,
        agent,
        workflow,
        false as is_retry,
        null::decimal(38, 10) as list_cost,
        null::hugeint as input_tokens,
        null::hugeint as output_tokens,
        null::hugeint as requests,
        sum(quantity) as quantity
    from usage_metrics_day
    group by metric, provider, resource_id, team, feature, customer, agent, workflow
)

select * from calls
union all
select * from metrics
