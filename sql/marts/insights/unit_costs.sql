-- unit_costs: Billed cost per unit of use; one row per day × team × feature × customer.
-- The rows are computed once per day (sql/marts/insights_daily/unit_costs.sql); this mart is the days of the history.
-- reads: daily_unit_costs
-- params: $since, $as_of
-- output: the unit_costs mart
select *
from daily_unit_costs
where charge_date between $since and $as_of
order by charge_date, team, feature, customer
