-- cost_forecast: cost per team over the next `horizons` days; one row per team × horizon. A linear trend fitted
-- by least squares to the team's daily cost over the last `history_days` days (days without cost count as 0) is
-- summed over the horizon; the interval is ± z·σ·√h (σ the residual standard deviation, z for the `interval`
-- level, errors taken as independent), its lower end not below 0, and null with fewer than three days of history.
-- Estimates, rounded to the cent.
-- reads: daily_costs
-- params: $history_start, $as_of, $horizons, $z, $interval
-- output: the cost_forecast mart
with daily as (
    select
        "value" as team,
        charge_date,
        sum(cost_usd) as cost_usd
    from daily_costs
    where dimension = 'team'
        and charge_date between $history_start and $as_of
    group by "value", charge_date
),

days as (
    select unnest(generate_series(greatest(min(charge_date), $history_start::date), $as_of::date, interval 1 day))::date
        as charge_date
    from daily
),

dense as (
    select
        t.team,
        date_diff('day', $as_of::date, d.charge_date) as t,
        coalesce(x.cost_usd, 0)::double as y
    from (select distinct team from daily) t
    cross join days d
    left join daily x
        on x.team = t.team
        and x.charge_date = d.charge_date
),

fit as (
    select
        team,
        count(*) as n,
        -- the regression adds its doubles in day order, so that a re-run gives the same cents (threads would add them
        -- in whatever order they finish); one day of history has no trend (DuckDB's regression gives NaN): a flat
        -- forecast at its level
        case when count(*) > 1 and isfinite(regr_slope(y, t order by t)) then regr_slope(y, t order by t) else 0 end as slope,
        case when count(*) > 1 and isfinite(regr_intercept(y, t order by t)) then regr_intercept(y, t order by t) else avg(y order by t) end
            as intercept,
        case
            when count(*) > 2 then sqrt(greatest(regr_syy(y, t order by t) - coalesce(regr_sxy(y, t order by t) ^ 2 / nullif(regr_sxx(y, t order by t), 0), 0), 0)
                / (count(*) - 2))
        end as sigma
    from dense
    group by team
),

horizons as (
    select unnest($horizons::integer[]) as horizon_days
),

projected as (
    select
        f.team,
        h.horizon_days,
        f.n,
        f.slope,
        f.sigma,
        -- days 1..h after the last day: h·intercept + slope·h(h+1)/2
        h.horizon_days * f.intercept + f.slope * h.horizon_days * (h.horizon_days + 1) / 2 as point,
        $z * f.sigma * sqrt(h.horizon_days) as half_width
    from fit f
    cross join horizons h
)

select
    team,
    $as_of::date as as_of,
    horizon_days,
    n::bigint as history_days,
    slope::decimal(38, 2) as daily_trend_usd,
    greatest(point, 0)::decimal(38, 2) as forecast_usd,
    -- fewer than three days leave no residual to measure: no interval rather than a zero-width one
    case when half_width is not null then greatest(point - half_width, 0)::decimal(38, 2) end as lower_usd,
    case when half_width is not null then greatest(point + half_width, 0)::decimal(38, 2) end as upper_usd,
    $interval::double as "interval"
from projected
order by team, horizon_days
