-- unpriced_models: the models of calls that got no price, to add to the catalog or overrides; one row per pair
-- reads: priced_day
-- params: none
-- output: temp view unpriced_models
create or replace temp view unpriced_models as

with unpriced as (
    select *
    from priced_day
    -- a priced model's call that reported no usage is flagged usage_missing, not a model to add to the prices
    where list_cost is null and price_source is null
)

select
    provider,
    model,
    count(*) as calls,
    cast(sum(input_tokens) as bigint) as input_tokens,
    cast(sum(output_tokens) as bigint) as output_tokens
from unpriced
group by provider, model
order by calls desc, provider, model
