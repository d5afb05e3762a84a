-- retry_spend: What retries and failures cost; one row per day × team × feature × agent × provider × model.
-- The rows are computed once per day (sql/marts/insights_daily/retry_spend.sql); this mart is the days of the history.
-- reads: daily_retry_spend
-- params: $since, $as_of
-- output: the retry_spend mart
select *
from daily_retry_spend
where charge_date between $since and $as_of
order by charge_date, team, feature, agent, provider, model
