-- days: the charge dates of the report's period that have cost, the x axis of the dated charts
-- reads: fact_cost
-- params: $start, $end
-- output: one row per charge date, in order
select distinct charge_date
from fact_cost
where charge_date between $start and $end
order by 1
