-- workflow_costs: What one run of a workflow (one trace) costs; one row per day × team × feature × agent × workflow.
-- The rows are computed once per day (sql/marts/insights_daily/workflow_costs.sql); this mart is the days of the history.
-- reads: daily_workflow_costs
-- params: $since, $as_of
-- output: the workflow_costs mart
select *
from daily_workflow_costs
where charge_date between $since and $as_of
order by charge_date, team, feature, agent, workflow
