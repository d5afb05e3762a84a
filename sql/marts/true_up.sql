-- true_up: per day, source, rule, provider, model and API key, what the vendor billed against what the logged calls
-- cost at list price. A `usage` rule with driver list_cost scales the calls to the bill, so the residual (billed
-- minus list-priced) is the discount or the price drift (`price_residual_usd`) plus the calls the vendor's usage
-- report counted and nobody logged (`unlogged_usd`, the 'calls never logged' pieces). Billed lines with no telemetry
-- at all (an unknown key, a model nobody logged) appear with list_priced_usd 0 and status 'no telemetry', with the
-- tokens the bill says they charge for (`billed_tokens`, of AI lines of cloud bills: x_Tokens). Read from
-- the pieces' `list_price` (set on list_cost rules and their unallocated lines), as fact_cost is.
-- reads: allocated_lines_day, cost_lines_day
-- params: none
-- output: the rows of the true_up partition of the day
with pieces as (
    select
        a.charge_date,
        a.source,
        a.allocation_rule,
        a.provider,
        a.model,
        c.x_ApiKeyId as api_key_id,
        a.line_id,
        -- each line's tokens once, on its first piece
        case when row_number() over (partition by a.line_id order by a.amount) = 1 then c.x_Tokens end as tokens,
        a.amount,
        a.list_price,
        a.allocation_rule <> 'unallocated' and a.unallocated_reason is not null as is_unlogged
    from allocated_lines_day a
    join cost_lines_day c on a.line_id = c.x_LineId
    where a.list_price is not null
),

groups as (
    select
        charge_date,
        source,
        allocation_rule,
        provider,
        model,
        api_key_id,
        count(distinct line_id) as lines,
        sum(tokens) as billed_tokens,
        sum(amount) as billed_usd,
        sum(list_price) as list_priced_usd,
        coalesce(sum(amount) filter (where is_unlogged), 0) as unlogged_usd
    from pieces
    group by charge_date, source, allocation_rule, provider, model, api_key_id
)

select
    charge_date,
    source,
    allocation_rule,
    provider,
    model,
    api_key_id,
    lines,
    billed_tokens,
    cast(billed_usd as decimal(38, 10)) as billed_usd,
    cast(list_priced_usd as decimal(38, 10)) as list_priced_usd,
    cast(billed_usd - list_priced_usd as decimal(38, 10)) as residual_usd,
    cast(unlogged_usd as decimal(38, 10)) as unlogged_usd,
    cast(billed_usd - list_priced_usd - unlogged_usd as decimal(38, 10)) as price_residual_usd,
    case when list_priced_usd > 0 then cast(billed_usd as double) / cast(list_priced_usd as double) end as scale,
    case when allocation_rule = 'unallocated' then 'no telemetry' else 'scaled to bill' end as status
from groups
order by source, provider, model, api_key_id, allocation_rule
