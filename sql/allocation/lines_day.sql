-- lines_day: the cost lines of one day to allocate; one row per line, amount in integer units of 1e-10
-- reads: cost_lines_day
-- params: $cost_metric
-- output: script: temp tables lines_day (the day's lines, none taken yet), allocated and match_log (empty)
create or replace temp table lines_day as
select
    c.*,
    c.x_LineId as line_id,
    cast(
        (case when $cost_metric = 'BilledCost' then c.BilledCost else c.EffectiveCost end) * 10000000000 as hugeint
    ) as amount_units,
    false as taken
from cost_lines_day c;

create or replace temp table allocated (
    line_id varchar,
    rule_name varchar,
    method varchar,
    team varchar,
    feature varchar,
    customer varchar,
    agent varchar,
    workflow varchar,
    provider varchar,
    model varchar,
    is_retry boolean,
    weight hugeint,
    total_weight hugeint,
    units hugeint,
    input_tokens hugeint,
    output_tokens hugeint,
    requests hugeint,
    unallocated_reason varchar,
    list_price hugeint,
    list_group varchar
);

create or replace temp table match_log (line_id varchar, rule_name varchar, priority integer, method varchar)
