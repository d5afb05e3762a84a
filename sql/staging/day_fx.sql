-- day_fx: the rate of each currency on $charge_date: the newest dated on or before the day, if it is no older than
-- $max_fx_age_days (a currency without one has no row). Cost lines are converted and quarantined rows valued by it
-- reads: fx_rates
-- params: $charge_date, $max_fx_age_days
-- output: temp table day_fx
create or replace temp table day_fx as
select currency, arg_max(rate, rate_date) as rate
from fx_rates
where rate_date <= $charge_date::date and rate_date >= $charge_date::date - $max_fx_age_days::integer
group by currency
