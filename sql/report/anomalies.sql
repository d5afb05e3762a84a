-- anomalies: the cost anomalies of the report's period
-- reads: cost_anomalies
-- params: $start, $end
-- output: (charge_date, dimension, value, cost, baseline, robust z, driver) rows, latest and largest first
select
    charge_date,
    dimension,
    "value",
    cost_usd,
    baseline_usd,
    robust_z,
    driver
from cost_anomalies
where is_anomaly and charge_date between $start and $end
order by charge_date desc, abs(deviation_usd) desc
