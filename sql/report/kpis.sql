-- kpis: the headline figures of the report's period: billed cost and its part without a team, the share of
-- list-priced spend on failed attempts, what caching and routing could save, and the number of cost anomalies
-- reads: fact_cost, retry_spend, prompt_duplication, routing_savings, cost_anomalies
-- params: $start, $end
-- output: one (total, unallocated, failed share, cache savings, routing savings, anomalies) row
select
    (
        select sum(amount_usd) from fact_cost
        where charge_date between $start and $end
    ) as total_usd,
    (
        select sum(amount_usd) filter (where team = 'unallocated') from fact_cost
        where charge_date between $start and $end
    ) as unallocated_usd,
    (
        select sum(failed_list_usd) / nullif(sum(list_usd), 0) from retry_spend
        where charge_date between $start and $end
    ) as failed_share,
    (
        select sum(exact_savings_usd + near_savings_usd) from prompt_duplication
        where charge_date between $start and $end
    ) as cache_savings_usd,
    (
        select sum(savings_usd) from routing_savings
        where charge_date between $start and $end
    ) as routing_savings_usd,
    (
        select count(*) from cost_anomalies
        where is_anomaly and charge_date between $start and $end
    ) as anomalies
