-- models (daily): the day's model calls per provider × model × feature (calls, successes, failures, retries, unpriced
-- calls, list cost, tokens) beside what fact_cost bills on the model; a row carries null counts when the model was
-- billed without calls that day, and a null billed_usd when it had calls but no bill.
-- reads: priced_usage, fact_cost
-- params: $day
-- output: one row per day × provider × model × feature
with calls as (
    select
        provider,
        model,
        coalesce(feature, 'unallocated') as feature,
        coalesce(status, 'ok') <> 'error' as succeeded,
        coalesce(attempt, 1) > 1 as is_retry,
        list_cost,
        coalesce(input_tokens, 0) as input_tokens,
        coalesce(cache_read_tokens, 0) as cache_read_tokens,
        coalesce(output_tokens, 0) as output_tokens
    from priced_usage
    where event_date = $day
        and model is not null
        and operation is distinct from 'vector_query'
),

scored as (
    select
        provider,
        model,
        feature,
        count(*) as calls,
        count(*) filter (where succeeded) as successful_calls,
        count(*) filter (where not succeeded) as failed_calls,
        count(*) filter (where is_retry) as retries,
        count(*) filter (where list_cost is null) as unpriced_calls,
        sum(list_cost) as list_usd,
        sum(input_tokens)::bigint as input_tokens,
        sum(output_tokens)::bigint as output_tokens,
        sum(cache_read_tokens)::bigint as cache_read_tokens
    from calls
    group by provider, model, feature
),

billed as (
    select
        provider,
        model,
        feature,
        sum(amount_usd) as billed_usd
    from fact_cost
    where charge_date = $day
        and model is not null
    group by provider, model, feature
)

select
    $day::date as charge_date,
    coalesce(s.provider, b.provider) as provider,
    coalesce(s.model, b.model) as model,
    coalesce(s.feature, b.feature) as feature,
    s.calls,
    s.successful_calls,
    s.failed_calls,
    s.retries,
    s.unpriced_calls,
    s.list_usd,
    s.input_tokens,
    s.output_tokens,
    s.cache_read_tokens,
    b.billed_usd
from scored s
full join billed b
    on s.provider is not distinct from b.provider
    and s.model = b.model
    and s.feature = b.feature
