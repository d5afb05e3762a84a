-- forecast: each team's cost forecast over the shortest horizon of cost_forecast, with its interval
-- reads: cost_forecast
-- params: none
-- output: (team, forecast, lower, upper, as_of) rows, largest forecast first
select
    team,
    forecast_usd,
    lower_usd,
    upper_usd,
    as_of
from cost_forecast
where horizon_days = (select min(horizon_days) from cost_forecast)
order by forecast_usd desc
