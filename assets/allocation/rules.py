"""Compile validated allocation rules to SQL (their match conditions through `assets.matching`).

Identifiers in the generated SQL come only from validated names (the whitelists in `assets.config`); every value
from a config file travels as a bound parameter. Nothing a user writes is pasted into SQL.
"""

from __future__ import annotations

from datetime import date

from assets.config import AllocationConfig, Rule
from assets.matching import Params, attribute_sql, match_sql, quote
from assets.schemas import DIMENSIONS

UNITS = 10_000_000_000
"""Allocation works in integer units of 1e-10 of the reporting currency, the scale of every amount."""


def effective_rules(config: AllocationConfig, day: date) -> list[Rule]:
    """Rules in force on `day`, in priority order."""
    return [
        r
        for r in config.ordered_rules()
        if (r.effective_from is None or r.effective_from <= day) and (r.effective_to is None or day < r.effective_to)
    ]


def segments(rules: list[Rule]) -> list[list[Rule]]:
    """Split ordered rules before each `cost` rule: a cost rule's basis rules all sit in earlier segments, so their
    allocation is complete when its segment runs (config validation guarantees bases come earlier)."""
    out: list[list[Rule]] = [[]]
    for rule in rules:
        if rule.method == "cost" and out[-1]:
            out.append([])
        out[-1].append(rule)
    return [s for s in out if s]


_PIECE_COLUMNS = (
    *DIMENSIONS,
    "provider",
    "model",
    "is_retry",
    "weight",
    "input_tokens",
    "output_tokens",
    "requests",
    "unallocated_reason",
    "list_price",
    "list_group",
)

_DRIVER_WEIGHT = {
    "list_cost": f"cast(d.list_cost * {UNITS} as hugeint)",
    "tokens": "cast(d.input_tokens + d.output_tokens as hugeint)",
    "input_tokens": "cast(d.input_tokens as hugeint)",
    "output_tokens": "cast(d.output_tokens as hugeint)",
    "requests": "cast(d.requests as hugeint)",
}


def _select(rule: Rule, params: Params, columns: dict[str, str], source: str, where: str = "") -> str:
    values = ", ".join(f"{columns.get(c, 'null')} as {c}" for c in _PIECE_COLUMNS)
    rule_name = params.bind(rule.name)
    condition = f"m.rule_name = {rule_name}" + (f" and {where}" if where else "")
    return (
        f"select m.line_id, m.rule_name, m.priority, {params.bind(rule.method)} as method, {values}\n"
        f"from matched m join lines_day l using (line_id) {source}\nwhere {condition}"
    )


def _tags(rule: Rule, params: Params, owner_keys: dict[str, str]) -> str:
    owners = sorted({s[6:] for sources in (rule.dimensions or {}).values() for s in sources if s.startswith("owner:")})
    joins, columns = [], {}
    for owner in owners:
        key = attribute_sql(owner_keys[owner], params)
        joins.append(f"left join {quote('owner_' + owner)} o_{owner} on o_{owner}.key = {key}")
    for dimension, sources in (rule.dimensions or {}).items():
        exprs = [attribute_sql(s, params) if s.startswith("tag:") else f"o_{s[6:]}.{quote(dimension)}" for s in sources]
        columns[dimension] = "coalesce(" + ", ".join(f"nullif({e}, '')" for e in exprs) + ")"
    columns |= {"provider": "l.x_Provider", "model": "l.x_Model", "is_retry": "false", "weight": "1::hugeint"}
    required = " and ".join(f"{columns.get(d, 'null')} is not null" for d in rule.require) or "true"
    return _select(rule, params, columns, " ".join(joins), required)


def _usage(rule: Rule, params: Params) -> str:
    assert rule.join is not None and rule.driver is not None
    if rule.driver.startswith("metric:"):
        weight = f"case when d.metric = {params.bind(rule.driver[7:])} then cast(d.quantity * {UNITS} as hugeint) end"
    else:
        weight = f"case when d.metric is null then {_DRIVER_WEIGHT[rule.driver]} end"
    list_cost = rule.driver == "list_cost"
    group = "concat_ws(chr(31), " + ", ".join([params.bind(rule.name), *(attribute_sql(a, params) for a in rule.join)])
    columns = {d: f"d.{d}" for d in DIMENSIONS} | {
        "provider": "coalesce(l.x_Provider, d.provider)",
        "model": "coalesce(l.x_Model, d.model)",
        "is_retry": "d.is_retry",
        "weight": weight,
        "input_tokens": "d.input_tokens",
        "output_tokens": "d.output_tokens",
        "requests": "d.requests",
        "list_price": weight if list_cost else "null",
        "list_group": group + ")" if list_cost else "null",
    }
    keys = " and ".join(f"{attribute_sql(a, params)} = d.{quote(k)}" for a, k in rule.join.items())
    logged = _select(rule, params, columns, f"join usage_drivers d on {keys}", f"not d.is_coverage and {weight} > 0")
    if rule.driver.startswith("metric:"):
        return logged
    return f"{logged}\nunion all\n{_unlogged(rule, params, weight, columns['list_group'])}"


def _unlogged(rule: Rule, params: Params, weight: str, list_group: str) -> str:
    """The 'calls never logged' piece of each line a usage rule matched: what the coverage sources (vendor usage
    reports) count for the line's keys beyond the logged calls, greatest(V - L, 0) of the rule's own driver, with
    no dimensions and `is_retry` unknown (null, which also keeps its place in every piece order apart from a logged
    piece without dimensions). It has no list price: the calls behind it were never priced one by one."""
    assert rule.join is not None
    keys = " and ".join(f"{attribute_sql(a, params, 'l2')} = d.{quote(k)}" for a, k in rule.join.items())
    coverage = (
        "select m2.line_id, "
        f"coalesce(sum({weight}) filter (where d.is_coverage), 0) as covered, "
        f"coalesce(sum({weight}) filter (where not d.is_coverage), 0) as logged, "
        "coalesce(sum(d.requests) filter (where d.is_coverage), 0) as covered_requests, "
        "coalesce(sum(d.requests) filter (where not d.is_coverage), 0) as logged_requests "
        f"from matched m2 join lines_day l2 using (line_id) join usage_drivers d on {keys} "
        f"where m2.rule_name = {params.bind(rule.name)} and d.metric is null group by m2.line_id"
    )
    columns = {
        "provider": "l.x_Provider",
        "model": "l.x_Model",
        "is_retry": "null::boolean",
        "weight": "cast(u.covered - u.logged as hugeint)",
        "unallocated_reason": "'calls never logged (vendor usage report: ' || case when u.covered_requests > 0 "
        "then u.covered_requests::varchar || ' requests, ' else 'no request count, ' end "
        "|| u.logged_requests::varchar || ' logged)'",
        "list_price": "0::hugeint" if rule.driver == "list_cost" else "null",
        "list_group": list_group,
    }
    return _select(rule, params, columns, f"join ({coverage}) u using (line_id)", "u.covered > u.logged")


def _cost(rule: Rule, params: Params) -> str:
    bases = ", ".join(params.bind(b) for b in rule.basis or [])
    dims = ", ".join(DIMENSIONS)
    basis = (
        f"cross join (select {dims}, sum(units) as units from allocated where rule_name in ({bases}) "
        f"group by {dims} having sum(units) > 0) b"
    )
    columns = {d: f"b.{d}" for d in DIMENSIONS} | {
        "provider": "l.x_Provider",
        "model": "l.x_Model",
        "is_retry": "false",
        "weight": "b.units",
    }
    return _select(rule, params, columns, basis)


def _targets(rule: Rule, params: Params) -> str:
    rows = []
    for target in rule.targets or []:
        weight = 1 if rule.method == "even" else round((target.weight or 0) * 1_000_000_000)
        values = [params.bind(getattr(target, d)) + "::varchar" for d in DIMENSIONS]
        rows.append(f"({', '.join(values)}, {params.bind(weight)}::hugeint)")
    source = f"cross join (values {', '.join(rows)}) t({', '.join(DIMENSIONS)}, weight)"
    columns = {d: f"t.{d}" for d in DIMENSIONS} | {
        "provider": "l.x_Provider",
        "model": "l.x_Model",
        "is_retry": "false",
        "weight": "t.weight",
    }
    return _select(rule, params, columns, source)


def compile_weights(rules: list[Rule], params: Params, owner_keys: dict[str, str]) -> str:
    """One query giving, for every line a rule matched, that rule's pieces and their weights."""
    parts = []
    for rule in rules:
        if rule.method == "tags":
            sql = _tags(rule, params, owner_keys)
        elif rule.method == "usage":
            sql = _usage(rule, params)
        elif rule.method == "cost":
            sql = _cost(rule, params)
        else:
            sql = _targets(rule, params)
        parts.append(sql)
    return "\nunion all\n".join(parts)


def compile_matches(rules: list[Rule], params: Params) -> str:
    """(line_id, rule_name, priority) for every open line each rule's conditions take."""
    return "\nunion all\n".join(
        f"select l.line_id, {params.bind(r.name)} as rule_name, {params.bind(r.priority)} as priority "
        f"from lines_day l where not l.taken and {match_sql(r.match, params)}"
        for r in rules
    )
