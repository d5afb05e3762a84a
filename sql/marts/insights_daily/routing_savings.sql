-- routing_savings, one day: what calls on premium models would have cost on the cheaper tier they fit; one row per
-- day × team × feature × routing rule × model. routed_usd prices the same tokens at the cheaper model's dated list
-- price (the pricing layer's own SQL); calls whose cheaper model has no price are counted, not guessed.
-- reads: priced_day, priced_usage
-- params: $day
-- output: the day's rows of the routing_savings mart
with routed as (
    select
        event_date as charge_date,
        coalesce(team, 'unallocated') as team,
        coalesce(feature, 'unallocated') as feature,
        rule_name,
        from_provider,
        from_model,
        provider as to_provider,
        model as to_model,
        from_list_cost,
        list_cost as to_list_cost
    from priced_day
),

model_totals as (
    select
        event_date as charge_date,
        coalesce(team, 'unallocated') as team,
        coalesce(feature, 'unallocated') as feature,
        provider,
        model,
        count(*) as model_calls,
        sum(list_cost) as model_list_usd
    from priced_usage
    where event_date = $day
    group by all
),

savings as (
    select
        charge_date,
        team,
        feature,
        rule_name,
        from_provider,
        from_model,
        to_provider,
        to_model,
        count(*) as routable_calls,
        count(*) filter (where to_list_cost is null) as unpriced_calls,
        sum(from_list_cost) filter (where to_list_cost is not null) as list_usd,
        sum(to_list_cost) as routed_usd
    from routed
    group by all
)

select
    s.charge_date,
    s.team,
    s.feature,
    s.rule_name,
    s.from_provider,
    s.from_model,
    s.to_provider,
    s.to_model,
    t.model_calls::bigint as model_calls,
    s.routable_calls::bigint as routable_calls,
    s.unpriced_calls::bigint as unpriced_calls,
    coalesce(t.model_list_usd, 0)::decimal(38, 10) as model_list_usd,
    coalesce(s.list_usd, 0)::decimal(38, 10) as list_usd,
    coalesce(s.routed_usd, 0)::decimal(38, 10) as routed_usd,
    (coalesce(s.list_usd, 0) - coalesce(s.routed_usd, 0))::decimal(38, 10) as savings_usd
from savings s
left join model_totals t
    on s.charge_date = t.charge_date
    and s.team = t.team
    and s.feature = t.feature
    and s.from_provider = t.provider
    and s.from_model = t.model
order by s.charge_date, s.team, s.feature, s.rule_name, s.from_model
