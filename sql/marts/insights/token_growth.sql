-- token_growth: how prompts and responses grow; one row per day × team × feature × agent over successful model
-- calls. Rolling 7- and 28-day means are token-weighted (all calls of the window); growth rates are the compounded
-- daily change of the mean from a log-linear fit over the window (0.03 = +3 % a day; null when the window has a
-- single day with calls, too few for a trend); a spike is a day whose mean or p95 prompt size is `spike_factor`
-- times the median of the previous seven days'.
-- reads: daily_tokens
-- params: $since, $as_of, $spike_factor
-- output: the token_growth mart
with daily as (
    select *
    from daily_tokens
    where charge_date between $since and $as_of
),

rolling as (
    select
        *,
        count(*) over w7 as days_7d,
        count(*) over w28 as days_28d,
        sum(input_tokens) over w7 / sum(calls) over w7 as mean_input_tokens_7d,
        sum(input_tokens) over w28 / sum(calls) over w28 as mean_input_tokens_28d,
        sum(output_tokens) over w7 / sum(calls) over w7 as mean_output_tokens_7d,
        sum(output_tokens) over w28 / sum(calls) over w28 as mean_output_tokens_28d,
        regr_slope(ln(nullif(mean_input_tokens, 0)), date_diff('day', $as_of, charge_date)) over w7 as input_slope_7d,
        regr_slope(ln(nullif(mean_input_tokens, 0)), date_diff('day', $as_of, charge_date)) over w28 as input_slope_28d,
        regr_slope(ln(nullif(mean_output_tokens, 0)), date_diff('day', $as_of, charge_date)) over w7 as output_slope_7d,
        regr_slope(ln(nullif(mean_output_tokens, 0)), date_diff('day', $as_of, charge_date)) over w28
            as output_slope_28d,
        median(mean_input_tokens) over previous7 as baseline_mean_input_tokens,
        median(p95_input_tokens) over previous7 as baseline_p95_input_tokens
    from daily
    window
        w7 as (
            partition by team, feature, agent order by charge_date
            range between interval 6 days preceding and current row
        ),
        w28 as (
            partition by team, feature, agent order by charge_date
            range between interval 27 days preceding and current row
        ),
        previous7 as (
            partition by team, feature, agent order by charge_date
            range between interval 7 days preceding and interval 1 day preceding
        )
)

select
    charge_date,
    team,
    feature,
    agent,
    calls::bigint as calls,
    input_tokens::bigint as input_tokens,
    output_tokens::bigint as output_tokens,
    mean_input_tokens,
    p95_input_tokens,
    mean_output_tokens,
    p95_output_tokens,
    mean_input_tokens_7d,
    mean_input_tokens_28d,
    mean_output_tokens_7d,
    mean_output_tokens_28d,
    case when days_7d > 1 then exp(input_slope_7d) - 1 end as context_growth_7d,
    case when days_28d > 1 then exp(input_slope_28d) - 1 end as context_growth_28d,
    case when days_7d > 1 then exp(output_slope_7d) - 1 end as response_growth_7d,
    case when days_28d > 1 then exp(output_slope_28d) - 1 end as response_growth_28d,
    coalesce(
        mean_input_tokens >= $spike_factor * baseline_mean_input_tokens
        or p95_input_tokens >= $spike_factor * baseline_p95_input_tokens,
        false
    ) as is_spike,
    mean_input_tokens / nullif(baseline_mean_input_tokens, 0) as mean_input_vs_baseline
from rolling
order by charge_date, team, feature, agent
