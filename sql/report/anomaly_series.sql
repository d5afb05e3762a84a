-- anomaly_series: the daily cost of one series of cost_anomalies ($dimension = $value) and its baseline
-- reads: cost_anomalies
-- params: $dimension, $value, $start, $end
-- output: (charge_date, cost, baseline) rows, by day
select
    charge_date,
    cost_usd,
    baseline_usd
from cost_anomalies
where
    dimension = $dimension
    and "value" = $value
    and charge_date between $start and $end
order by 1
