-- true_up: per day, source, rule, provider, model and API key, what the vendor billed against what the logged calls
-- cost at list price. A `usage` rule with driver list_cost scales the calls to the bill, so the residual (billed
-- minus list-priced) is the discount, the price drift or the calls that were never logged. Billed lines with no
-- telemetry at all (an unknown key, a model nobody logged) appear with list_priced_usd 0 and status 'no telemetry'.
with lines as (
    select
        a.charge_date,
        a.source,
        a.allocation_rule,
        a.line_id,
        any_value(a.provider) as provider,
        any_value(a.model) as model,
        any_value(a.line_amount) as billed,
        any_value(a.total_weight) as total_weight,
        any_value(a.unallocated_reason) as unallocated_reason
    from allocated_lines_day a
    where a.allocation_rule in (select unnest($list_cost_rules))
        or (a.allocation_rule = 'unallocated' and a.provider is not null)
    group by a.charge_date, a.source, a.allocation_rule, a.line_id
),

keyed as (
    select
        l.*,
        c.x_ApiKeyId as api_key_id,
        c.x_Provider as line_provider,
        c.x_Model as line_model
    from lines l
    join cost_lines_day c on l.line_id = c.x_LineId
),

-- every line of one key group (same rule and keys) was split over the same calls: their list cost is the
-- group's total weight, counted once
groups as (
    select
        charge_date,
        source,
        allocation_rule,
        coalesce(line_provider, provider) as provider,
        coalesce(line_model, model) as model,
        api_key_id,
        sum(billed) as billed_usd,
        case
            when allocation_rule = 'unallocated' then 0
            else cast(cast(any_value(total_weight) as hugeint) as decimal(38, 0)) * 0.0000000001
        end as list_priced_usd,
        count(*) as lines
    from keyed
    group by charge_date, source, allocation_rule, coalesce(line_provider, provider), coalesce(line_model, model),
        api_key_id, case when allocation_rule = 'unallocated' then null else total_weight end
)

select
    charge_date,
    source,
    allocation_rule,
    provider,
    model,
    api_key_id,
    lines,
    cast(billed_usd as decimal(38, 10)) as billed_usd,
    cast(list_priced_usd as decimal(38, 10)) as list_priced_usd,
    cast(billed_usd - list_priced_usd as decimal(38, 10)) as residual_usd,
    case when list_priced_usd > 0 then cast(billed_usd as double) / cast(list_priced_usd as double) end as scale,
    case when allocation_rule = 'unallocated' then 'no telemetry' else 'scaled to bill' end as status
from groups
order by source, provider, model, api_key_id, allocation_rule
