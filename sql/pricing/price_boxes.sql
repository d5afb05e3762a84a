-- price_boxes: the price table resolved in advance, so that each call meets at most one row. Per provider, model
-- and service tier, the instants and input-token counts are cut where any row of the model starts or ends (a valid
-- date, a time of day, a tier threshold); on each box the price rows in effect are the same everywhere, so the row a
-- call there pays is picked once per box: its own tier before standard, then the highest threshold reached.
-- Prices in integer units of 1e-10 USD per million tokens (per thousand requests); a null price stays null.
-- reads: usage_day, price_table
-- params: none
-- output: temp table price_boxes
create or replace temp table price_boxes as

with usage_span as (
    select min(event_time) as first_call, max(event_time) as last_call
    from usage_day
),

tiers as (
    select distinct provider, model, service_tier
    from price_table
),

date_cuts as (
    select provider, model, valid_from as cut from price_table where valid_from is not null
    union
    select provider, model, valid_to from price_table where valid_to is not null
),

date_spans as (
    -- the first span is open before the first cut (null), the last open after the last one (null)
    select provider, model, null::timestamptz as valid_from, min(cut) as valid_to
    from date_cuts
    group by provider, model
    union all
    select provider, model, cut, lead(cut) over (partition by provider, model order by cut)
    from date_cuts
),

time_cuts as (
    select provider, model, time_of_day_start as cut from price_table where time_of_day_start is not null
    union
    select provider, model, time_of_day_end from price_table where time_of_day_end is not null
),

time_spans as (
    -- daily windows between consecutive cuts, the last one wrapping past midnight to the first; a model without
    -- time-of-day prices has one span, the whole day (null, null)
    select
        provider,
        model,
        cut as time_from,
        coalesce(
            lead(cut) over (partition by provider, model order by cut),
            min(cut) over (partition by provider, model)
        ) as time_to
    from time_cuts
),

token_spans as (
    select
        provider,
        model,
        min_input_tokens as min_tokens,
        lead(min_input_tokens) over (partition by provider, model order by min_input_tokens) as max_tokens
    from (select distinct provider, model, min_input_tokens from price_table)
),

boxes as (
    select
        t.provider,
        t.model,
        t.service_tier,
        d.valid_from,
        d.valid_to,
        s.time_from,
        s.time_to,
        k.min_tokens,
        k.max_tokens,
        -- a point inside the box, to test the price rows against
        coalesce(d.valid_from, '-infinity'::timestamptz) as at_instant,
        coalesce(s.time_from, '00:00:00'::time) as at_time
    from tiers t
    inner join token_spans k on k.provider = t.provider and k.model = t.model
    left join date_spans d on d.provider = t.provider and d.model = t.model
    left join time_spans s on s.provider = t.provider and s.model = t.model
    -- only the dates the calls fall on: a day's calls usually meet one box per model and tier
    cross join usage_span u
    where (d.valid_from is null or d.valid_from <= u.last_call)
        and (d.valid_to is null or d.valid_to > u.first_call)
),

candidates as (
    select
        b.*,
        p.service_tier = b.service_tier as is_call_tier,
        p.catalog_model,
        p.price_source,
        p.valid_from as row_valid_from,
        p.time_of_day_start as row_time_start,
        p.min_input_tokens,
        p.input_mtok,
        p.cache_read_mtok,
        p.cache_write_mtok,
        p.cache_write_1h_mtok,
        p.output_mtok,
        p.requests_kcount,
        p.web_searches_kcount
    from boxes b
    inner join price_table p
        on p.provider = b.provider
        and p.model = b.model
        and p.service_tier in (b.service_tier, 'standard')
        and (p.valid_from is null or b.at_instant >= p.valid_from)
        and (p.valid_to is null or b.at_instant < p.valid_to)
        and b.min_tokens >= p.min_input_tokens
        and (
            p.time_of_day_start is null
            or (
                p.time_of_day_start < p.time_of_day_end
                and b.at_time >= p.time_of_day_start
                and b.at_time < p.time_of_day_end
            )
            or (
                p.time_of_day_start > p.time_of_day_end
                and (b.at_time >= p.time_of_day_start or b.at_time < p.time_of_day_end)
            )
        )
)

select
    provider,
    model,
    service_tier,
    -- a box without cuts holds every call of its key: the lookup below then needs no search
    valid_from is null and valid_to is null and time_from is null and min_tokens = 0 and max_tokens is null
        as whole,
    valid_from,
    valid_to,
    time_from,
    time_to,
    min_tokens,
    max_tokens,
    catalog_model,
    price_source,
    {
        'catalog_model': catalog_model,
        'price_source': price_source,
        -- parts without a price of their own are charged as genai-prices charges them: cache tokens at the input
        -- price, 1-hour cache writes at the cache-write price, anything else unpriced at 0
        'input': cast(coalesce(input_mtok, 0) * 10000000000 as bigint),
        'cache_read': cast(coalesce(cache_read_mtok, input_mtok, 0) * 10000000000 as bigint),
        'cache_write': cast(coalesce(cache_write_mtok, input_mtok, 0) * 10000000000 as bigint),
        'cache_write_1h': cast(coalesce(cache_write_1h_mtok, cache_write_mtok, input_mtok, 0) * 10000000000 as bigint),
        'output': cast(coalesce(output_mtok, 0) * 10000000000 as bigint),
        'requests': cast(coalesce(requests_kcount, 0) * 10000000000 as bigint),
        'web_searches': cast(coalesce(web_searches_kcount, 0) * 10000000000 as bigint)
    } as price
from candidates
qualify row_number() over (
    partition by provider, model, service_tier, valid_from, valid_to, time_from, min_tokens
    order by
        is_call_tier desc,
        min_input_tokens desc,
        row_valid_from desc nulls last,
        row_time_start nulls last,
        price_source
) = 1
