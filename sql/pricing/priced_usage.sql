-- priced_day: every usage_day row with its list cost at the dated price table; one row per usage_day row
create or replace table priced_day as

with calls as (
    select
        row_number() over () as call_id,
        *
    from usage_day
),

candidates as (
    -- price rows of the call's model in effect at its instant and time of day (UTC), of its service tier or
    -- standard, and of a threshold the call's input tokens reach
    select
        c.call_id,
        c.operation,
        coalesce(c.input_tokens, 0) as input_tokens,
        coalesce(c.cache_read_tokens, 0) as cache_read_tokens,
        coalesce(c.cache_write_tokens, 0) as cache_write_tokens,
        coalesce(c.cache_write_1h_tokens, 0) as cache_write_1h_tokens,
        coalesce(c.output_tokens, 0) as output_tokens,
        coalesce(c.request_count, case when c.operation like '%:bucket%' then 0 else 1 end) as request_count,
        p.service_tier = coalesce(c.service_tier, 'standard') as is_call_tier,
        p.*
    from calls c
    inner join price_table p
        on p.provider = c.provider
        and p.model = c.model
        and p.service_tier in (coalesce(c.service_tier, 'standard'), 'standard')
        and (p.valid_from is null or c.event_time >= p.valid_from)
        and (p.valid_to is null or c.event_time < p.valid_to)
        and case
            -- a vendor's daily bucket is not one call: never pick a tier by its summed tokens; use the base tier,
            -- or the long-context tier when the vendor grouped the tokens by context window (FORMATS-AI 7.3)
            when split_part(c.operation, ':', 2) = 'bucket'
                then p.min_input_tokens = 0
                or (split_part(c.operation, ':', 3) = '200k-1M' and p.min_input_tokens <= 200001)
            else coalesce(c.input_tokens, 0) >= p.min_input_tokens
        end
        and (
            p.time_of_day_start is null
            or (
                p.time_of_day_start < p.time_of_day_end
                and cast(c.event_time at time zone 'UTC' as time) >= p.time_of_day_start
                and cast(c.event_time at time zone 'UTC' as time) < p.time_of_day_end
            )
            or (
                p.time_of_day_start > p.time_of_day_end
                and (
                    cast(c.event_time at time zone 'UTC' as time) >= p.time_of_day_start
                    or cast(c.event_time at time zone 'UTC' as time) < p.time_of_day_end
                )
            )
        )
),

chosen as (
    -- one row per priced call: its own tier before standard, then the highest tier threshold reached
    select *
    from candidates
    qualify row_number() over (
        partition by call_id
        order by
            is_call_tier desc,
            min_input_tokens desc,
            valid_from desc nulls last,
            time_of_day_start nulls last,
            price_source
    ) = 1
),

costed as (
    -- parts without a price of their own are charged as genai-prices charges them: cache tokens at the input
    -- price, 1-hour cache writes at the cache-write price, anything else unpriced at 0
    select
        call_id,
        catalog_model,
        price_source,
        case
            when operation = 'vector_query'
                or (input_tokens = 0 and cache_read_tokens = 0 and cache_write_tokens = 0 and output_tokens = 0)
                then cast(0 as decimal(38, 10))
            else cast(
                (
                    (input_tokens - cache_read_tokens - cache_write_tokens) * coalesce(input_mtok, 0)
                    + cache_read_tokens * coalesce(cache_read_mtok, input_mtok, 0)
                    + (cache_write_tokens - cache_write_1h_tokens) * coalesce(cache_write_mtok, input_mtok, 0)
                    + cache_write_1h_tokens * coalesce(cache_write_1h_mtok, cache_write_mtok, input_mtok, 0)
                    + output_tokens * coalesce(output_mtok, 0)
                ) * 0.000001
                + request_count * coalesce(requests_kcount, 0) * 0.001
                as decimal(38, 10)
            )
        end as list_cost
    from chosen
)

-- a vector query is not a model call: it has no list price here (the vector DB's bill is split by query counts)
select
    c.* exclude (call_id),
    case when c.operation = 'vector_query' then cast(0 as decimal(38, 10)) else k.list_cost end as list_cost,
    k.catalog_model,
    case when c.operation = 'vector_query' then 'not a model call' else k.price_source end as price_source
from calls c
left join costed k
    on k.call_id = c.call_id
