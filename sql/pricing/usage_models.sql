-- usage_models: the (provider, model) pairs the day's calls name, to build the price table for; one row per pair
-- reads: usage_day
-- params: none
-- output: (provider, model) rows
select distinct
    provider,
    model
from usage_day
where model is not null
