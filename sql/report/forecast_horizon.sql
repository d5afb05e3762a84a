-- forecast_horizon: the shortest horizon of cost_forecast, in days
-- reads: cost_forecast
-- params: none
-- output: one (days) row, null when there is no forecast
select min(horizon_days)
from cost_forecast
