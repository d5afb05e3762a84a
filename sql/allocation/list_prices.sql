-- list_prices: the list-priced cost of the logged calls behind each piece of a list_cost rule, exact in units of
-- 1e-10. The lines of one key group (`list_group`: same rule, same join keys; an input and an output line of a model
-- and key) were all split over the same calls, so each line's driver weights sum to the same L. L is shared over the
-- group's lines by the size of their amounts, then each line's share over its pieces by their weights, both by
-- largest remainder: the pieces of a group sum to L exactly, as if the calls had been split once.
-- reads: allocated, lines_day
-- params: none
-- output: temp table allocated, replaced: the same pieces with list_price set on the pieces of list_cost rules
create or replace temp table allocated as
with lines as (
    select
        a.line_id,
        a.list_group,
        sum(a.list_price) as calls_units,
        abs(any_value(l.amount_units)) as line_size
    from allocated a
    join lines_day l on a.line_id = l.line_id
    where a.list_group is not null
    group by a.line_id, a.list_group
),

groups as (
    select
        *,
        max(calls_units) over (partition by list_group) as group_units,
        sum(line_size) over (partition by list_group) as group_size,
        row_number() over (partition by list_group order by line_id) as line_rank
    from lines
),

line_floor as (
    select
        *,
        case
            when group_size = 0 then case when line_rank = 1 then group_units else 0 end
            else (group_units * line_size) // group_size
        end as base_units,
        case when group_size = 0 then 0 else (group_units * line_size) % group_size end as remainder
    from groups
),

line_shares as (
    select
        line_id,
        calls_units,
        base_units + case
            when row_number() over (partition by list_group order by remainder desc, line_id)
                <= group_units - sum(base_units) over (partition by list_group)
                then 1
            else 0
        end as line_units
    from line_floor
),

piece_floor as (
    select
        a.*,
        (s.line_units * a.list_price) // s.calls_units as base_units,
        (s.line_units * a.list_price) % s.calls_units as remainder,
        s.line_units
    from allocated a
    join line_shares s on a.line_id = s.line_id
),

piece_shares as (
    select
        * exclude (base_units, remainder, line_units) replace (
            base_units + case
                when row_number() over (
                    partition by line_id
                    order by
                        remainder desc, team, feature, customer, agent, workflow, provider, model, is_retry,
                        unallocated_reason
                ) <= line_units - sum(base_units) over (partition by line_id)
                    then 1
                else 0
            end as list_price
        )
    from piece_floor
)

select * from piece_shares
union all
select a.* from allocated a where a.line_id not in (select line_id from line_shares)
