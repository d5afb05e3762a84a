-- retry_share: per day, the share of list-priced model spend that went to retry attempts and to failed attempts
-- reads: retry_spend
-- params: $start, $end
-- output: (charge_date, retry share, failed share) rows, by day
select
    charge_date,
    sum(retry_list_usd) / nullif(sum(list_usd), 0),
    sum(failed_list_usd) / nullif(sum(list_usd), 0)
from retry_spend
where charge_date between $start and $end
group by 1
order by 1
