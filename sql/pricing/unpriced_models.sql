-- unpriced_models: the models of calls that got no price, to add to the catalog or overrides; one row per pair
create or replace temp view unpriced_models as

with unpriced as (
    select *
    from priced_day
    where list_cost is null
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
