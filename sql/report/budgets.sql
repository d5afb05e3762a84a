-- budgets: every budget in the last month of budget_status up to the end of the report's period
-- reads: budget_status
-- params: $end
-- output: (budget (value), used share, forecast share, status, month) rows, by budget
select
    budget || ' (' || "value" || ')',
    used_share,
    forecast_share,
    status,
    "month"
from budget_status
where "month" = (select max("month") from budget_status where "month" <= $end)
order by budget
