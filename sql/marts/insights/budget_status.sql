-- budget_status: monthly budgets against actual and forecast cost; one row per budget × month, from the first
-- month with data (or the budget's `from`) to the month of the last charge date. The forecast to month end adds the
-- mean daily cost of the last seven days (fewer at the start of the data) for each remaining day; a budget is
-- 'over' when the month-to-date cost reached it, 'at_risk' when the forecast reaches `at_risk_share` of it.
-- reads: budgets, daily_costs
-- params: $since, $as_of, $at_risk_share
-- output: the budget_status mart
with daily as (
    select
        b.budget,
        c.charge_date,
        sum(c.cost_usd) as cost_usd
    from budgets b
    inner join daily_costs c
        on c.dimension = b.dimension
        and c."value" = b."value"
    where c.charge_date between $since and $as_of
    group by b.budget, c.charge_date
),

first_day as (
    select min(charge_date) as first_day
    from daily_costs
    where charge_date between $since and $as_of
),

months as (
    select distinct date_trunc('month', charge_date)::date as "month"
    from daily_costs
    where charge_date between $since and $as_of
),

budget_months as (
    select
        b.*,
        m."month",
        least(last_day(m."month"), $as_of::date) as as_of,
        last_day(m."month") as month_end
    from budgets b
    cross join months m
    where (b.valid_from is null or m."month" >= date_trunc('month', b.valid_from))
        and (b.valid_to is null or m."month" < b.valid_to)
),

measured as (
    select
        m.budget,
        m.dimension,
        m."value",
        m."month",
        m.as_of,
        m.month_end,
        m.monthly_usd,
        coalesce(sum(d.cost_usd) filter (where d.charge_date between m."month" and m.as_of), 0) as mtd_usd,
        coalesce(sum(d.cost_usd) filter (where d.charge_date between m.as_of - 6 and m.as_of), 0) as last_7d_usd,
        least(7, date_diff('day', any_value(f.first_day), m.as_of) + 1) as run_rate_days
    from budget_months m
    cross join first_day f
    left join daily d
        on d.budget = m.budget
    group by m.budget, m.dimension, m."value", m."month", m.as_of, m.month_end, m.monthly_usd
),

forecast as (
    select
        *,
        date_diff('day', as_of, month_end) as remaining_days,
        mtd_usd + cast(last_7d_usd * date_diff('day', as_of, month_end) / run_rate_days as decimal(38, 10))
            as forecast_usd
    from measured
)

select
    budget,
    dimension,
    "value",
    "month",
    as_of,
    remaining_days::bigint as remaining_days,
    monthly_usd::decimal(38, 10) as budget_usd,
    mtd_usd::decimal(38, 10) as mtd_usd,
    forecast_usd::decimal(38, 2) as forecast_usd,
    cast(mtd_usd / monthly_usd as decimal(10, 6)) as used_share,
    cast(forecast_usd / monthly_usd as decimal(10, 6)) as forecast_share,
    case
        when mtd_usd >= monthly_usd then 'over'
        when forecast_usd >= $at_risk_share * monthly_usd then 'at_risk'
        else 'ok'
    end as status
from forecast
order by "month", budget
