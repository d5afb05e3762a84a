-- prompt_duplication: What a response cache would have saved; one row per day × team × feature × provider × model.
-- The rows are computed once per day (sql/marts/insights_daily/prompt_duplication.sql); this mart is the days of the history.
-- reads: daily_prompt_duplication
-- params: $since, $as_of
-- output: the prompt_duplication mart
select *
from daily_prompt_duplication
where charge_date between $since and $as_of
order by charge_date, team, feature, provider, model
