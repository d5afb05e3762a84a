-- attribution_coverage, one day: how much of the cost carries each dimension; one row per day × dimension (team,
-- feature, customer, agent, workflow). Cost without a value reads 'unallocated' in fact_cost. Beside it, the day's
-- calls and how many of them reported no usage (usage_missing: not priced) or only part of it (usage_partial), and
-- the day's cost of the provider × model those calls were made on
-- reads: fact_cost, priced_usage
-- params: $day
-- output: the day's rows of the attribution_coverage mart
with dimensions as (
    select dimension from (values ('team'), ('feature'), ('customer'), ('agent'), ('workflow')) d(dimension)
),

labelled as (
    select
        f.charge_date,
        d.dimension,
        case d.dimension
            when 'team' then f.team
            when 'feature' then f.feature
            when 'customer' then f.customer
            when 'agent' then f.agent
            else f.workflow
        end <> 'unallocated' as attributed,
        f.amount_usd
    from fact_cost f
    cross join dimensions d
    where f.charge_date = $day
),

coverage as (
    select
        charge_date,
        dimension,
        sum(amount_usd)::decimal(38, 10) as total_usd,
        coalesce(sum(amount_usd) filter (where attributed), 0)::decimal(38, 10) as attributed_usd,
        coalesce(sum(amount_usd) filter (where not attributed), 0)::decimal(38, 10) as unattributed_usd,
        cast(
            coalesce(sum(amount_usd) filter (where attributed), 0) / nullif(sum(amount_usd), 0) as decimal(10, 6)
        ) as coverage_share
    from labelled
    group by charge_date, dimension
),

usage_gaps as (
    select
        event_date as charge_date,
        count(*) as calls,
        count(*) filter (where usage_flag = 'usage_missing') as calls_usage_missing,
        count(*) filter (where usage_flag = 'usage_partial') as calls_usage_partial
    from priced_usage
    where event_date = $day
    group by event_date
),

flagged_models as (
    select distinct event_date as charge_date, provider, model, usage_flag
    from priced_usage
    where event_date = $day and usage_flag is not null
),

flagged_spend as (
    select
        f.charge_date,
        coalesce(sum(f.amount_usd) filter (where m.usage_flag = 'usage_missing'), 0) as usage_missing_usd,
        coalesce(sum(f.amount_usd) filter (where m.usage_flag = 'usage_partial'), 0) as usage_partial_usd
    from fact_cost f
    join flagged_models m
        on f.charge_date = m.charge_date and f.provider is not distinct from m.provider and f.model = m.model
    group by f.charge_date
)

select
    c.*,
    coalesce(g.calls, 0) as calls,
    coalesce(g.calls_usage_missing, 0) as calls_usage_missing,
    coalesce(g.calls_usage_partial, 0) as calls_usage_partial,
    coalesce(s.usage_missing_usd, 0)::decimal(38, 10) as usage_missing_usd,
    cast(coalesce(s.usage_missing_usd, 0) / nullif(c.total_usd, 0) as decimal(10, 6)) as usage_missing_share,
    coalesce(s.usage_partial_usd, 0)::decimal(38, 10) as usage_partial_usd,
    cast(coalesce(s.usage_partial_usd, 0) / nullif(c.total_usd, 0) as decimal(10, 6)) as usage_partial_share
from coverage c
left join usage_gaps g on c.charge_date = g.charge_date
left join flagged_spend s on c.charge_date = s.charge_date
order by c.charge_date, c.dimension
