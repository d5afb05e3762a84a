-- routing_savings: What calls on premium models would have cost on the cheaper tier they fit; one row per day × team ×
-- feature × routing rule × model.
-- The rows are computed once per day (sql/marts/insights_daily/routing_savings.sql); this mart is the days of the history.
-- reads: daily_routing_savings
-- params: $since, $as_of
-- output: the routing_savings mart
select *
from daily_routing_savings
where charge_date between $since and $as_of
order by charge_date, team, feature, rule_name, from_model
