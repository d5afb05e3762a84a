-- shadow_spend (daily): the day's allocated spend by what it was spent on; one row per day × kind (api_key, account,
-- vendor) × key × vendor × unallocated reason × owned or not, for the rolling shadow_ai mart. Unowned = allocated
-- to no team (unallocated, or split over calls that carry no team); calls a vendor served on a key but nobody
-- logged ('calls never logged') are a telemetry gap, not shadow AI.
-- reads: allocated_lines, cost_lines
-- params: $day
-- output: one row per day × kind × key × vendor × reason × unowned
with pieces as (
    select
        a.charge_date,
        a.amount,
        a.team is null and coalesce(a.unallocated_reason not like 'calls never logged%', true) as unowned,
        a.unallocated_reason,
        c.x_ApiKeyId as api_key,
        c.SubAccountId as account,
        coalesce(c.x_Provider, c.ServiceProviderName) as vendor
    from allocated_lines a
    inner join cost_lines c
        on a.charge_date = c.charge_date
        and a.line_id = c.x_LineId
    where a.charge_date = $day
),

keyed as (
    select 'api_key' as kind, api_key as "key", * from pieces where api_key is not null
    union all
    select 'account' as kind, account as "key", * from pieces where account is not null
    union all
    select 'vendor' as kind, vendor as "key", * from pieces where vendor is not null
)

select
    charge_date,
    kind,
    "key",
    vendor,
    unallocated_reason,
    unowned,
    sum(amount) as amount
from keyed
group by all
