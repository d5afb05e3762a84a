-- fastest_growing: the eight team × feature × agent prompts growing fastest over 28 days, on the last day of
-- token_growth up to the end of the report's period
-- reads: token_growth
-- params: $end
-- output: (team, feature, agent, mean prompt over 7 days, growth a day over 28 days, spike) rows, fastest first
select
    team,
    feature,
    agent,
    mean_input_tokens_7d,
    context_growth_28d,
    is_spike
from token_growth
where charge_date = (select max(charge_date) from token_growth where charge_date <= $end)
order by context_growth_28d desc nulls last
limit 8
