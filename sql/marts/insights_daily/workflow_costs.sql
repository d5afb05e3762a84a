-- workflow_costs, one day: what one run of a workflow (one trace) costs; one row per day × team × feature × agent ×
-- workflow. billed_usd is everything fact_cost puts on the workflow (its calls at billed prices and any
-- infrastructure allocated to it); runs, calls, tokens and the spread of run costs come from the calls priced at
-- list prices. Calls outside any workflow (workflow 'unallocated') are single-call runs.
-- reads: priced_usage, fact_cost
-- params: $day
-- output: the day's rows of the workflow_costs mart
with calls as (
    select
        event_date as charge_date,
        coalesce(team, 'unallocated') as team,
        coalesce(feature, 'unallocated') as feature,
        coalesce(agent, 'unallocated') as agent,
        coalesce(workflow, 'unallocated') as workflow,
        coalesce(trace_id, request_id) as run_id,
        customer,
        list_cost,
        coalesce(input_tokens, 0) + coalesce(output_tokens, 0) as tokens,
        coalesce(request_count, 1) as requests
    from priced_usage
    where event_date = $day
),

runs as (
    select
        charge_date,
        team,
        feature,
        agent,
        workflow,
        run_id,
        min(customer) as customer,
        sum(requests) as calls,
        sum(tokens) as tokens,
        sum(list_cost) as list_usd
    from calls
    group by charge_date, team, feature, agent, workflow, run_id
),

run_stats as (
    select
        charge_date,
        team,
        feature,
        agent,
        workflow,
        count(*) as runs,
        count(distinct customer) as customers,
        sum(calls) as calls,
        sum(tokens) as tokens,
        sum(list_usd) as list_usd,
        quantile_cont(list_usd, 0.5) as list_usd_per_run_p50,
        quantile_cont(list_usd, 0.95) as list_usd_per_run_p95
    from runs
    group by charge_date, team, feature, agent, workflow
),

billed as (
    select
        charge_date,
        team,
        feature,
        agent,
        workflow,
        sum(amount_usd) as billed_usd
    from fact_cost
    where charge_date = $day
    group by charge_date, team, feature, agent, workflow
)

select
    coalesce(r.charge_date, b.charge_date) as charge_date,
    coalesce(r.team, b.team) as team,
    coalesce(r.feature, b.feature) as feature,
    coalesce(r.agent, b.agent) as agent,
    coalesce(r.workflow, b.workflow) as workflow,
    coalesce(r.runs, 0)::bigint as runs,
    coalesce(r.customers, 0)::bigint as customers,
    coalesce(r.calls, 0)::bigint as calls,
    coalesce(r.tokens, 0)::bigint as tokens,
    coalesce(b.billed_usd, 0)::decimal(38, 10) as billed_usd,
    cast(b.billed_usd / nullif(r.runs, 0) as decimal(38, 10)) as billed_usd_per_run,
    coalesce(r.list_usd, 0)::decimal(38, 10) as list_usd,
    cast(r.list_usd / nullif(r.runs, 0) as decimal(38, 10)) as list_usd_per_run,
    r.list_usd_per_run_p50::decimal(38, 10) as list_usd_per_run_p50,
    r.list_usd_per_run_p95::decimal(38, 10) as list_usd_per_run_p95,
    r.calls / nullif(r.runs, 0) as calls_per_run
from run_stats r
full join billed b
    on r.charge_date = b.charge_date
    and r.team = b.team
    and r.feature = b.feature
    and r.agent = b.agent
    and r.workflow = b.workflow
order by charge_date, team, feature, agent, workflow
