-- spend_by_team: billed cost per day and team in the report's period
-- reads: fact_cost
-- params: $start, $end
-- output: (charge_date, team, cost) rows, by team
select
    charge_date,
    team,
    sum(amount_usd)
from fact_cost
where charge_date between $start and $end
group by all
order by team
