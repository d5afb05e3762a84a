-- business_roi: cost against what the business got for it; one row per day × metric × feature × customer of the
-- business-metric file (a null feature or customer there means all of them, and the cost is summed likewise).
-- Revenue metrics get a margin and an ROI, count metrics (tickets resolved, sign-ups) a cost per unit.
-- reads: business_metrics, daily_unit_costs
-- params: $since, $as_of, $revenue_metrics
-- output: the business_roi mart
with metrics as (
    select
        "date" as charge_date,
        metric,
        feature,
        customer,
        sum("value") as metric_value
    from business_metrics
    where "date" between $since and $as_of
    group by all
),

billed as (
    select
        charge_date,
        feature,
        customer,
        sum(billed_usd) as billed_usd
    from daily_unit_costs
    where charge_date between $since and $as_of
    group by charge_date, feature, customer
),

matched as (
    select
        m.charge_date,
        m.metric,
        m.feature,
        m.customer,
        m.metric_value,
        coalesce(sum(b.billed_usd), 0) as billed_usd
    from metrics m
    left join billed b
        on b.charge_date = m.charge_date
        and (m.feature is null or b.feature = m.feature)
        and (m.customer is null or b.customer = m.customer)
    group by m.charge_date, m.metric, m.feature, m.customer, m.metric_value
)

select
    charge_date,
    metric,
    feature,
    customer,
    list_contains($revenue_metrics, metric) as is_revenue,
    metric_value,
    billed_usd::decimal(38, 10) as billed_usd,
    case when not list_contains($revenue_metrics, metric)
        then cast(billed_usd / nullif(metric_value, 0) as decimal(38, 10))
    end as usd_per_unit,
    case when list_contains($revenue_metrics, metric) then metric_value - billed_usd end as margin_usd,
    case when list_contains($revenue_metrics, metric)
        then cast((metric_value - billed_usd) / nullif(billed_usd, 0) as decimal(18, 6))
    end as roi
from matched
order by charge_date, metric, feature nulls first, customer nulls first
