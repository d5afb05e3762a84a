-- attribution_coverage: How much of the cost carries each dimension; one row per day × dimension.
-- The rows are computed once per day (sql/marts/insights_daily/attribution_coverage.sql); this mart is the days of the history.
-- reads: daily_attribution_coverage
-- params: $since, $as_of
-- output: the attribution_coverage mart
select *
from daily_attribution_coverage
where charge_date between $since and $as_of
order by charge_date, dimension
