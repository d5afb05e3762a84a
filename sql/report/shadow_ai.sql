-- shadow_ai: the ten keys with the most spend nobody owns (the mart covers its own period)
-- reads: shadow_ai
-- params: none
-- output: (kind, key, vendors, unowned cost, unowned share, reasons) rows, largest first
select
    kind,
    "key",
    vendors,
    unowned_usd,
    unowned_share,
    reasons
from shadow_ai
order by unowned_usd desc, kind, "key"
limit 10
