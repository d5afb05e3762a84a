-- shadow_ai: spend nobody owns, by what it was spent on; one row per kind × key with unowned spend, kind being
-- api_key (x_ApiKeyId), account (SubAccountId: an AWS account, a GCP project, an Azure subscription) or vendor
-- (x_Provider, else ServiceProviderName). Unowned = allocated to no team (unallocated, or split over calls that
-- carry no team). A line counts under each kind it has a key for; rank 1 = the most unowned spend of its kind.
-- Calls a vendor served on a key but nobody logged ('calls never logged') are a gap in the telemetry of a managed
-- key, not shadow AI: true_up and reconciliation show them.
-- reads: allocated_lines, cost_lines
-- params: $as_of, $since
-- output: the rows of the shadow_ai mart
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
    where a.charge_date between $since and $as_of
),

keyed as (
    select 'api_key' as kind, api_key as "key", * from pieces where api_key is not null
    union all
    select 'account' as kind, account as "key", * from pieces where account is not null
    union all
    select 'vendor' as kind, vendor as "key", * from pieces where vendor is not null
),

by_key as (
    select
        kind,
        "key",
        string_agg(distinct vendor, ', ' order by vendor) as vendors,
        min(charge_date) filter (where unowned) as first_seen,
        max(charge_date) filter (where unowned) as last_seen,
        count(distinct charge_date) filter (where unowned) as days,
        coalesce(sum(amount) filter (where unowned), 0) as unowned_usd,
        sum(amount) as total_usd,
        string_agg(distinct unallocated_reason, '; ' order by unallocated_reason) as reasons
    from keyed
    group by kind, "key"
)

select
    kind,
    "key",
    vendors,
    first_seen,
    last_seen,
    days::bigint as days,
    unowned_usd::decimal(38, 10) as unowned_usd,
    total_usd::decimal(38, 10) as total_usd,
    cast(unowned_usd / nullif(total_usd, 0) as decimal(10, 6)) as unowned_share,
    reasons,
    rank() over (partition by kind order by unowned_usd desc) as rank
from by_key
where unowned_usd <> 0
order by kind, rank, "key"
