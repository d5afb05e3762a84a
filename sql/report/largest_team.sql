-- largest_team: the team with the most billed cost in the report's period (the anomaly chart's series when the
-- period has no anomaly)
-- reads: fact_cost
-- params: $start, $end
-- output: one (team) row, none when the period has no cost
select team
from fact_cost
where charge_date between $start and $end
group by 1
order by sum(amount_usd) desc, 1
limit 1
