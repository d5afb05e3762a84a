-- unit_costs, one day: billed cost per unit of use; one row per day × team × feature × customer. Requests and
-- tokens are fact_cost's usage counts (the 'telemetry' rows), interactions the distinct traces (customer
-- interactions) of the calls; cost per customer over any period is sum(billed_usd) / count(distinct customer).
-- reads: fact_cost, priced_usage
-- params: $day
-- output: the day's rows of the unit_costs mart
with billed as (
    select
        charge_date,
        team,
        feature,
        customer,
        sum(amount_usd) as billed_usd,
        sum(requests) as requests,
        sum(input_tokens) as input_tokens,
        sum(output_tokens) as output_tokens
    from fact_cost
    where charge_date = $day
    group by charge_date, team, feature, customer
),

interactions as (
    select
        event_date as charge_date,
        coalesce(team, 'unallocated') as team,
        coalesce(feature, 'unallocated') as feature,
        coalesce(customer, 'unallocated') as customer,
        count(distinct coalesce(trace_id, request_id)) as interactions
    from priced_usage
    where event_date = $day
    group by all
)

select
    b.charge_date,
    b.team,
    b.feature,
    b.customer,
    b.billed_usd,
    b.requests::bigint as requests,
    b.input_tokens::bigint as input_tokens,
    b.output_tokens::bigint as output_tokens,
    coalesce(i.interactions, 0)::bigint as interactions,
    cast(b.billed_usd / nullif(b.requests, 0) as decimal(38, 10)) as usd_per_request,
    cast(b.billed_usd * 1000 / nullif(b.input_tokens + b.output_tokens, 0) as decimal(38, 10)) as usd_per_1k_tokens,
    cast(b.billed_usd / nullif(i.interactions, 0) as decimal(38, 10)) as usd_per_interaction
from billed b
left join interactions i
    on b.charge_date = i.charge_date
    and b.team = i.team
    and b.feature = i.feature
    and b.customer = i.customer
order by b.charge_date, b.team, b.feature, b.customer
