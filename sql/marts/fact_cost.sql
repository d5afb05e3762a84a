-- fact_cost: one row per day × team × feature × customer × agent × workflow × provider × model × cost category
-- × allocation rule × source × retry flag; amounts in the reporting currency. Token and request counts come from
-- the usage sources, on rows of rule 'telemetry' that carry no amount, so that summing either never double counts;
-- coverage sources (`$coverage_sources`: vendor usage reports) are not telemetry. On rows of bills split by
-- list-priced calls, `list_price_usd` is what the logged calls behind the row cost at list price and `true_up_usd`
-- the rest of the amount (discount, price drift, calls never logged, billed spend with no telemetry); both are 0
-- elsewhere, so sum(true_up_usd) by provider, model and day is the residual of `true_up`.
-- reads: allocated_lines_day, priced_day
-- params: $charge_date, $coverage_sources
-- output: the rows of the fact_cost partition of $charge_date
with allocated as (
    select
        charge_date,
        coalesce(team, 'unallocated') as team,
        coalesce(feature, 'unallocated') as feature,
        coalesce(customer, 'unallocated') as customer,
        coalesce(agent, 'unallocated') as agent,
        coalesce(workflow, 'unallocated') as workflow,
        provider,
        model,
        cost_category,
        allocation_rule,
        source,
        coalesce(is_retry, false) as is_retry,
        unallocated_reason,
        sum(amount) as amount_usd,
        coalesce(sum(list_price), 0) as list_price_usd,
        coalesce(sum(amount) filter (where list_price is not null), 0) - coalesce(sum(list_price), 0) as true_up_usd,
        0::hugeint as input_tokens,
        0::hugeint as output_tokens,
        0::hugeint as requests
    from allocated_lines_day
    group by
        charge_date, team, feature, customer, agent, workflow, provider, model, cost_category, allocation_rule,
        source, is_retry, unallocated_reason
),

telemetry as (
    select
        $charge_date::date as charge_date,
        coalesce(team, 'unallocated') as team,
        coalesce(feature, 'unallocated') as feature,
        coalesce(customer, 'unallocated') as customer,
        coalesce(agent, 'unallocated') as agent,
        coalesce(workflow, 'unallocated') as workflow,
        provider,
        model,
        case
            when split_part(operation, ':', 1) = 'embeddings' then 'embeddings'
            when operation = 'vector_query' then 'vector_db'
            else 'inference'
        end as cost_category,
        'telemetry' as allocation_rule,
        x_Source as source,
        coalesce(attempt, 1) > 1 as is_retry,
        null as unallocated_reason,
        0::decimal(38, 10) as amount_usd,
        0::decimal(38, 10) as list_price_usd,
        0::decimal(38, 10) as true_up_usd,
        sum(coalesce(input_tokens, 0))::hugeint as input_tokens,
        sum(coalesce(output_tokens, 0))::hugeint as output_tokens,
        sum(coalesce(request_count, case when operation like '%:bucket%' then 0 else 1 end))::hugeint as requests
    from priced_day
    where not list_contains($coverage_sources::varchar[], x_Source)
    group by
        team, feature, customer, agent, workflow, provider, model, cost_category, x_Source, is_retry
)

select
    charge_date,
    team,
    feature,
    customer,
    agent,
    workflow,
    provider,
    model,
    cost_category,
    allocation_rule,
    source,
    is_retry,
    unallocated_reason,
    amount_usd,
    list_price_usd::decimal(38, 10) as list_price_usd,
    true_up_usd::decimal(38, 10) as true_up_usd,
    input_tokens::bigint as input_tokens,
    output_tokens::bigint as output_tokens,
    requests::bigint as requests
from (select * from allocated union all select * from telemetry)
order by
    team, feature, customer, agent, workflow, provider, model, cost_category, allocation_rule, source, is_retry,
    unallocated_reason
