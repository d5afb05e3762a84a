-- top_values: the ten values of one dimension of fact_cost ($dimension: feature, customer or agent) with the most
-- billed cost in the report's period, leaving out 'unallocated'
-- reads: fact_cost
-- params: $dimension, $start, $end
-- output: (value, cost) rows, largest cost first
with valued as (
    select
        case $dimension
            when 'feature' then feature
            when 'customer' then customer
            when 'agent' then agent
            else error('report/top_values: no dimension ' || $dimension)
        end as "value",
        amount_usd
    from fact_cost
    where charge_date between $start and $end
)

select
    "value",
    sum(amount_usd) as cost
from valued
where "value" <> 'unallocated'
group by 1
order by cost desc, 1
limit 10
