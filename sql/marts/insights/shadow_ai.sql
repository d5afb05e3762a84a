-- shadow_ai: spend nobody owns, by what it was spent on; one row per kind × key with unowned spend, kind being
-- api_key (x_ApiKeyId), account (SubAccountId: an AWS account, a GCP project, an Azure subscription) or vendor
-- (x_Provider, else ServiceProviderName). Unowned = allocated to no team (unallocated, or split over calls that
-- carry no team). A line counts under each kind it has a key for; rank 1 = the most unowned spend of its kind.
-- Calls a vendor served on a key but nobody logged ('calls never logged') are a gap in the telemetry of a managed
-- key, not shadow AI: true_up and reconciliation show them.
-- reads: daily_shadow_spend
-- params: $since, $as_of
-- output: the shadow_ai mart
with keyed as (
    select *
    from daily_shadow_spend
    where charge_date between $since and $as_of
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
