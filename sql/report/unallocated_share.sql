-- unallocated_share: per day, the share of billed cost without a team, a feature or a customer
-- reads: attribution_coverage
-- params: $start, $end
-- output: (charge_date, dimension, unallocated share) rows, by day
select
    charge_date,
    dimension,
    1 - coverage_share
from attribution_coverage
where charge_date between $start and $end and dimension in ('team', 'feature', 'customer')
order by 1
