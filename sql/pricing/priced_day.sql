-- priced_day: every usage_day row with its list cost at the dated price table; one row per usage_day row, in its
-- order. A call takes the box of its own tier holding its instant, UTC time of day and tier tokens, or (a tier the
-- model has no prices for) the standard one. A vendor's daily bucket is not one call: its summed tokens never pick a
-- tier; it pays the base tier, or the long-context tier when the vendor grouped the tokens by context window
-- (FORMATS-AI 7.3)
-- reads: usage_day, price_lookup
-- params: none
-- output: script: temp macro in_price_box (used by the view), temp view priced_day

-- in_price_box: whether a call (its instant, UTC time of day and tier tokens) lies in a price box
create or replace temp macro in_price_box(box, instant, time_of_day, tokens) as
    (box.valid_from is null or instant >= box.valid_from)
    and (box.valid_to is null or instant < box.valid_to)
    and tokens >= box.min_tokens
    and (box.max_tokens is null or tokens < box.max_tokens)
    and (
        box.time_from is null
        or (box.time_from < box.time_to and time_of_day >= box.time_from and time_of_day < box.time_to)
        or (box.time_from >= box.time_to and (time_of_day >= box.time_from or time_of_day < box.time_to))
    );

create or replace temp view priced_day as

with calls as (
    select
        *,
        cast(event_time at time zone 'UTC' as time) as _at_time,
        case
            when split_part(operation, ':', 2) = 'bucket'
                then case when split_part(operation, ':', 3) = '200k-1M' then 200001 else 0 end
            else coalesce(input_tokens, 0)
        end as _tier_tokens
    from usage_day
),

keyed as (
    select
        c.*,
        l.boxes[
            coalesce(
                list_position(l.keys, {'provider': c.provider, 'model': c.model, 'tier': coalesce(c.service_tier, 'standard')}),
                list_position(l.keys, {'provider': c.provider, 'model': c.model, 'tier': 'standard'})
            )
        ] as _boxes
    from calls c
    cross join price_lookup l
),

boxed as (
    select
        * exclude (_boxes),
        case
            when _boxes[1].whole then _boxes[1]
            when len(_boxes) = 1 then
                case when in_price_box(_boxes[1], event_time, _at_time, _tier_tokens) then _boxes[1] end
            else list_filter(_boxes, lambda box: in_price_box(box, event_time, _at_time, _tier_tokens))[1]
        end.price as _price
    from keyed
)

-- the cost in units of 1e-16 USD (tokens × 1e-10 USD per million), rounded to the ten decimals of money once; a
-- vector query is not a model call: it has no list price here (the vector DB's bill is split by query counts)
select
    * exclude (_at_time, _tier_tokens, _price),
    case
        when operation = 'vector_query' then cast(0 as decimal(38, 10))
        when _price is null then null
        -- a call that reported no usage has no known cost: not 0, which would read as a free call
        when usage_flag = 'usage_missing' then null
        when coalesce(input_tokens, 0) = 0 and coalesce(cache_read_tokens, 0) = 0
            and coalesce(cache_write_tokens, 0) = 0 and coalesce(output_tokens, 0) = 0
            and coalesce(web_search_requests, 0) = 0
            then cast(0 as decimal(38, 10))
        else cast(
            cast(
                (coalesce(input_tokens, 0) - coalesce(cache_read_tokens, 0) - coalesce(cache_write_tokens, 0))
                    * _price.input::hugeint
                + coalesce(cache_read_tokens, 0) * _price.cache_read::hugeint
                + (coalesce(cache_write_tokens, 0) - coalesce(cache_write_1h_tokens, 0)) * _price.cache_write::hugeint
                + coalesce(cache_write_1h_tokens, 0) * _price.cache_write_1h::hugeint
                + coalesce(output_tokens, 0) * _price.output::hugeint
                + coalesce(request_count, case when operation like '%:bucket%' then 0 else 1 end)
                    * _price.requests::hugeint * 1000
                + coalesce(web_search_requests, 0) * _price.web_searches::hugeint * 1000
                as decimal(38, 0)
            ) * 0.0000000000000001
            as decimal(38, 10)
        )
    end as list_cost,
    _price.catalog_model as catalog_model,
    case
        when operation = 'vector_query' then 'not a model call'
        when usage_flag = 'usage_missing' and _price is not null then 'usage missing: not priced'
        else _price.price_source
    end as price_source
from boxed
