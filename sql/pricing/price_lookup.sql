-- price_lookup: one row, the boxes of each provider, model and service tier as lists, for a lookup per call by
-- position (a join would not keep the calls in their order, and sorting ten million wide rows costs more)
-- reads: price_boxes
-- params: none
-- output: temp table price_lookup
create or replace temp table price_lookup as
select
    list({'provider': provider, 'model': model, 'tier': service_tier} order by provider, model, service_tier) as keys,
    list(boxes order by provider, model, service_tier) as boxes
from (
    select
        provider,
        model,
        service_tier,
        list(
            struct_pack(whole, valid_from, valid_to, time_from, time_to, min_tokens, max_tokens, price)
            order by valid_from nulls first, time_from nulls first, min_tokens
        ) as boxes
    from price_boxes
    group by provider, model, service_tier
)
