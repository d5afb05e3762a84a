-- routing_savings: per routing rule and route, what the calls that fit a cheaper model would have saved in the
-- report's period
-- reads: routing_savings
-- params: $start, $end
-- output: (rule, from → to, routable calls, model calls, cost now, cost routed, savings) rows, largest first
select
    rule_name,
    from_model || ' → ' || to_model,
    sum(routable_calls),
    sum(model_calls),
    sum(list_usd),
    sum(routed_usd),
    sum(savings_usd)
from routing_savings
where charge_date between $start and $end
group by 1, 2
order by sum(savings_usd) desc
