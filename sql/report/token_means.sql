-- token_means: per day, the mean prompt and response tokens of a successful call
-- reads: token_growth
-- params: $start, $end
-- output: (charge_date, prompt tokens, response tokens) rows, by day
select
    charge_date,
    sum(input_tokens) / sum(calls),
    sum(output_tokens) / sum(calls)
from token_growth
where charge_date between $start and $end
group by 1
order by 1
