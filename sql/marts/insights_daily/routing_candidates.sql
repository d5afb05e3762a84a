-- usage_day (temp table): the day's calls that fit a cheaper model under the first routing rule (config order)
-- they match, as calls of that model, for the pricing model to price them again at its dated prices. Their current
-- cost and model travel along.
-- reads: priced_usage, routing_rules
-- params: $day
-- output: temp table usage_day
create or replace temp table usage_day as

with matched as (
    select
        u.* exclude (list_cost, catalog_model, price_source, provider, model),
        u.provider as from_provider,
        u.model as from_model,
        u.list_cost as from_list_cost,
        r.rule_no,
        r.rule_name,
        r.to_provider as provider,
        r.to_model as model
    from priced_usage u
    inner join routing_rules r
        on u.provider = r.provider
        and list_contains(r.models, u.model)
        and list_contains(r.operations, u.operation)
        and (r.features is null or list_contains(r.features, u.feature))
        and coalesce(u.input_tokens, 0) <= r.max_input_tokens
        and coalesce(u.output_tokens, 0) <= r.max_output_tokens
    where u.event_date = $day
        and u.list_cost is not null
)

select *
from matched
qualify row_number() over (partition by x_Source, x_SourceFile, x_SourceRow order by rule_no) = 1
