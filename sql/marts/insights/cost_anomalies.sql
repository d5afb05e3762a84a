-- cost_anomalies: daily cost of every team, feature, agent and model against its own robust baseline; one row per
-- day × dimension × value from the series' first day to the last charge date (days without cost count as 0).
-- The baseline is the median and MAD of the same weekday over the previous `baseline_weeks` weeks when there are
-- `min_weekday_points` of them, else of the previous `trailing_days` days (`min_points` at least). A day is an
-- anomaly when its robust z = (cost - median) / (1.4826 MAD) reaches `z_threshold` (or MAD is 0) and it is at
-- least `min_deviation_usd` and `min_relative_deviation` × median away. What moved it: cost = first attempts × (attempts / first attempts) × tokens per
-- attempt × model mix × price, where model mix is the cost per token at fixed per-model reference prices (their
-- cost per token over the history) and price the rest; each effect is ln(day / baseline median), and the driver is
-- the largest effect in the direction of the move.
-- reads: daily_costs
-- params: $since, $as_of, $baseline_weeks, $min_weekday_points, $trailing_days, $min_points, $z_threshold,
--     $min_deviation_usd, $min_relative_deviation
-- output: the cost_anomalies mart
with by_model as (
    select *
    from daily_costs
    where charge_date between $since and $as_of
),

reference_prices as (
    -- cost per token of each model over the history: the fixed prices of the model-mix index
    select
        "value" as model,
        sum(cost_usd)::double / nullif(sum(tokens), 0) as usd_per_token
    from by_model
    where dimension = 'model'
    group by "value"
),

observed as (
    select
        b.charge_date,
        b.dimension,
        b."value",
        sum(b.cost_usd) as cost_usd,
        sum(b.requests) as requests,
        sum(b.retry_requests) as retry_requests,
        sum(b.tokens) as tokens,
        -- in DECIMAL: a parallel sum of doubles is not the same to the last bit from run to run
        sum(b.tokens * cast(r.usd_per_token as decimal(38, 18)))::double as reference_cost
    from by_model b
    left join reference_prices r
        on b.model = r.model
    group by b.charge_date, b.dimension, b."value"
),

series as (
    select
        dimension,
        "value",
        min(charge_date) as first_day
    from observed
    group by dimension, "value"
),

days as (
    select unnest(generate_series(min(first_day), $as_of::date, interval 1 day))::date as charge_date
    from series
),

dense as (
    select
        s.dimension,
        s."value",
        d.charge_date,
        coalesce(o.cost_usd, 0) as cost_usd,
        coalesce(o.requests, 0) as requests,
        coalesce(o.retry_requests, 0) as retry_requests,
        coalesce(o.tokens, 0) as tokens,
        o.reference_cost
    from series s
    inner join days d
        on d.charge_date >= s.first_day
    left join observed o
        on o.dimension = s.dimension
        and o."value" = s."value"
        and o.charge_date = d.charge_date
),

factors as (
    -- cost = first_attempts × retry_factor × tokens_per_attempt × mix × price
    select
        *,
        nullif(requests - retry_requests, 0) as first_attempts,
        requests::double / nullif(requests - retry_requests, 0) as retry_factor,
        tokens::double / nullif(requests, 0) as tokens_per_attempt,
        reference_cost / nullif(tokens, 0) as mix,
        cost_usd::double / nullif(reference_cost, 0) as price
    from dense
),

baselines as (
    select
        *,
        count(*) over same_weekday as weekday_points,
        median(cost_usd) over same_weekday as weekday_median,
        mad(cost_usd) over same_weekday as weekday_mad,
        median(first_attempts) over same_weekday as weekday_first_attempts,
        median(retry_factor) over same_weekday as weekday_retry_factor,
        median(tokens_per_attempt) over same_weekday as weekday_tokens_per_attempt,
        median(mix) over same_weekday as weekday_mix,
        median(price) over same_weekday as weekday_price,
        count(*) over recent as trailing_points,
        median(cost_usd) over recent as trailing_median,
        mad(cost_usd) over recent as trailing_mad,
        median(first_attempts) over recent as trailing_first_attempts,
        median(retry_factor) over recent as trailing_retry_factor,
        median(tokens_per_attempt) over recent as trailing_tokens_per_attempt,
        median(mix) over recent as trailing_mix,
        median(price) over recent as trailing_price
    from factors
    window
        same_weekday as (
            partition by dimension, "value", isodow(charge_date) order by charge_date
            rows between $baseline_weeks preceding and 1 preceding
        ),
        recent as (
            partition by dimension, "value" order by charge_date
            rows between $trailing_days preceding and 1 preceding
        )
),

chosen as (
    select
        charge_date,
        dimension,
        "value",
        cost_usd,
        first_attempts,
        retry_factor,
        tokens_per_attempt,
        mix,
        price,
        case
            when weekday_points >= $min_weekday_points then 'weekday'
            when trailing_points >= $min_points then 'trailing'
        end as baseline_kind,
        case
            when weekday_points >= $min_weekday_points then weekday_points
            when trailing_points >= $min_points then trailing_points
        end as baseline_days,
        case
            when weekday_points >= $min_weekday_points then weekday_median
            when trailing_points >= $min_points then trailing_median
        end as baseline_usd,
        case
            when weekday_points >= $min_weekday_points then weekday_mad
            when trailing_points >= $min_points then trailing_mad
        end as mad_usd,
        case
            when weekday_points >= $min_weekday_points then weekday_first_attempts
            else trailing_first_attempts
        end as base_first_attempts,
        case
            when weekday_points >= $min_weekday_points then weekday_retry_factor
            else trailing_retry_factor
        end as base_retry_factor,
        case
            when weekday_points >= $min_weekday_points then weekday_tokens_per_attempt
            else trailing_tokens_per_attempt
        end as base_tokens_per_attempt,
        case when weekday_points >= $min_weekday_points then weekday_mix else trailing_mix end as base_mix,
        case when weekday_points >= $min_weekday_points then weekday_price else trailing_price end as base_price
    from baselines
),

scored as (
    select
        *,
        cost_usd - baseline_usd as deviation_usd,
        (cost_usd - baseline_usd)::double / nullif(1.4826 * mad_usd::double, 0) as robust_z,
        case when first_attempts > 0 and base_first_attempts > 0 then ln(first_attempts / base_first_attempts) end
            as requests_effect,
        case when retry_factor > 0 and base_retry_factor > 0 then ln(retry_factor / base_retry_factor) end
            as retries_effect,
        case when tokens_per_attempt > 0 and base_tokens_per_attempt > 0 then ln(tokens_per_attempt / base_tokens_per_attempt) end
            as tokens_effect,
        case when mix > 0 and base_mix > 0 then ln(mix / base_mix) end
            as model_mix_effect,
        case when price > 0 and base_price > 0 then ln(price / base_price) end
            as price_effect
    from chosen
),

flagged as (
    select
        *,
        baseline_kind is not null
        and abs(deviation_usd) >= $min_deviation_usd
        and abs(deviation_usd) >= $min_relative_deviation * abs(baseline_usd)
        and (mad_usd = 0 or abs(robust_z) >= $z_threshold) as is_anomaly,
        case when deviation_usd >= 0 then 1 else -1 end as direction
    from scored
)

select
    charge_date,
    dimension,
    "value",
    cost_usd::decimal(38, 10) as cost_usd,
    baseline_usd::decimal(38, 10) as baseline_usd,
    mad_usd::decimal(38, 10) as mad_usd,
    baseline_kind,
    baseline_days::bigint as baseline_days,
    deviation_usd::decimal(38, 10) as deviation_usd,
    robust_z,
    is_anomaly,
    case when is_anomaly then case when direction > 0 then 'up' else 'down' end end as direction,
    case
        when not is_anomaly then null
        when direction * requests_effect = greatest(
            direction * requests_effect, direction * retries_effect, direction * tokens_effect,
            direction * model_mix_effect, direction * price_effect
        ) then 'requests'
        when direction * retries_effect = greatest(
            direction * retries_effect, direction * tokens_effect, direction * model_mix_effect,
            direction * price_effect
        ) then 'retries'
        when direction * tokens_effect = greatest(
            direction * tokens_effect, direction * model_mix_effect, direction * price_effect
        ) then 'tokens'
        when direction * model_mix_effect = greatest(direction * model_mix_effect, direction * price_effect)
            then 'model_mix'
        when price_effect is not null then 'price'
    end as driver,
    requests_effect,
    retries_effect,
    tokens_effect,
    model_mix_effect,
    price_effect
from flagged
order by charge_date, dimension, "value"
