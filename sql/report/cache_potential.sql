-- cache_potential: what a response cache would have saved in the report's period, for the ten feature × model
-- pairs that would save the most
-- reads: prompt_duplication
-- params: $start, $end
-- output: (feature, provider/model, exact repeats, their savings, near duplicates, their savings) rows
select
    feature,
    provider || '/' || model,
    sum(exact_repeat_calls),
    sum(exact_savings_usd),
    sum(near_duplicate_calls),
    sum(near_savings_usd)
from prompt_duplication
where charge_date between $start and $end
group by 1, 2
having sum(exact_repeat_calls) + sum(near_duplicate_calls) > 0
order by sum(exact_savings_usd) + sum(near_savings_usd) desc
limit 10
