"""Compile validated rules and category conditions to SQL.

Identifiers in the generated SQL come only from validated names (the whitelists in `assets.config`); every value
from a config file travels as a bound parameter. Nothing a user writes is pasted into SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from assets.config import AiLineRule, AllocationConfig, Condition, CostCategoryRule, Extract, Rule
from assets.schemas import DIMENSIONS

UNITS = 10_000_000_000
"""Allocation works in integer units of 1e-10 of the reporting currency, the scale of every amount."""


@dataclass
class Params:
    """Collects bound parameters under generated names."""

    values: dict[str, Any] = field(default_factory=dict)

    def bind(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"${name}"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def attribute_sql(attribute: str, params: Params, alias: str = "l") -> str:
    """A validated attribute (`ServiceName`, `tag:team`) as SQL over the cost-line alias."""
    if attribute.startswith("tag:"):
        return f"{alias}.{_quote('Tags')}[{params.bind(attribute[4:])}]"
    return f"{alias}.{_quote(attribute)}"


def condition_sql(condition: Condition, params: Params, alias: str = "l") -> str:
    value = attribute_sql(condition.attribute, params, alias)
    if condition.equals is not None:
        return f"{value} in ({', '.join(params.bind(v) for v in condition.equals)})"
    if condition.not_in is not None:
        return f"({value} is null or {value} not in ({', '.join(params.bind(v) for v in condition.not_in)}))"
    if condition.like is not None:
        return "(" + " or ".join(f"{value} ilike {params.bind(p)}" for p in condition.like) + ")"
    if condition.regex is not None:
        return f"coalesce(regexp_matches({value}, {params.bind(condition.regex)}), false)"
    present = f"nullif({value}, '') is not null"
    return present if condition.exists else f"not ({present})"


def match_sql(conditions: list[Condition], params: Params, alias: str = "l") -> str:
    """All conditions hold (an empty match takes every line)."""
    return " and ".join(condition_sql(c, params, alias) for c in conditions) or "true"


def cost_category_sql(categories: list[CostCategoryRule], params: Params) -> str:
    """The category of a line: its own `x_CostCategory` if the source gave one, else the first rule that matches."""
    whens = " ".join(f"when {match_sql(c.match, params)} then {params.bind(c.category)}" for c in categories)
    return (
        f"coalesce(l.{_quote('x_CostCategory')}, case {whens} else 'other' end)"
        if whens
        else (f"coalesce(l.{_quote('x_CostCategory')}, 'other')")
    )


AI_LINE_COLUMNS = {
    "provider": "x_Provider",
    "model": "x_Model",
    "token_type": "x_TokenType",
    "service_tier": "x_ServiceTier",
    "consumer": "x_ApiKeyId",
}
"""What an AI-line rule gives (`AiLineRule` field → cost-line column)."""

_TOKEN_UNIT = r"(?i)^\s*([0-9][0-9,]*)?\s*([KkMm])?\s*(tokens?)?\s*$"
"""A unit a token count is priced in: `Tokens`, `1K`, `1M`, `1000000 Tokens`, `1K tokens`."""


def extract_sql(extract: Extract, params: Params, alias: str = "l") -> str:
    """What an `Extract` gives a line, as SQL (null when its regex or cases find nothing)."""
    if extract.value is not None:
        return params.bind(extract.value)
    assert extract.source is not None
    text = attribute_sql(extract.source, params, alias)
    if extract.regex is not None:
        group = 1 if re.compile(extract.regex).groups else 0
        sql = f"nullif(regexp_extract({text}, {params.bind(extract.regex)}, {group}), '')"
    elif extract.cases is not None:
        whens = " ".join(
            f"when regexp_matches({text}, {params.bind(p)}) then {params.bind(k)}" for k, p in extract.cases.items()
        )
        sql = f"case {whens} end"
    else:
        sql = f"nullif(trim({text}), '')"
    return f"regexp_replace(lower(trim({sql})), '\\s+', '-', 'g')" if extract.lower else sql


def _ai_keys(rules: list[AiLineRule]) -> list[str]:
    """The cost-line columns the AI-line rules read: what they match on and extract from, the columns they fill
    (a value the reader gave wins) and the units the tokens come from."""
    read = {c.attribute for r in rules for c in r.match}
    read |= {e.source for r in rules for name in AI_LINE_COLUMNS for e in getattr(r, name) or [] if e.source}
    read = {"Tags" if a.startswith("tag:") else a for a in read}
    return sorted(read | {"PricingUnit", "ConsumedUnit", "x_CostCategory", *AI_LINE_COLUMNS.values()})


def ai_lines_sql(rules: list[AiLineRule], params: Params, lines: str) -> str:
    """A query giving the cost lines of relation `lines` what the first AI-line rule that matches each gives it.
    A column the bill's reader filled keeps its value. `x_Tokens` is the line's quantity in tokens on a line with a
    token type: its consumed quantity when counted in tokens, else its pricing quantity times the block its pricing
    unit names (`1M`, `1000000 Tokens`), else times the rule's `tokens_per_unit` (a unit such as `Units`, `count`).

    The rules run once per distinct combination of the columns they read (a bill has far fewer of those than
    lines: usage types × meters × units), joined back to every line by those columns."""
    keys = [_quote(k) for k in _ai_keys(rules)]
    index = " ".join(f"when {match_sql(r.match, params)} then {i}" for i, r in enumerate(rules))
    outputs: dict[str, str] = {}
    for name, column in AI_LINE_COLUMNS.items():
        whens = " ".join(
            f"when {i} then coalesce({', '.join(extract_sql(e, params) for e in getattr(r, name))})"
            for i, r in enumerate(rules)
            if getattr(r, name) is not None
        )
        outputs[column] = f"coalesce(l.{column}, case l._ai_rule {whens} end)" if whens else f"l.{column}"
    categories = " ".join(
        f"when {i} then {params.bind(r.category)}" for i, r in enumerate(rules) if r.category is not None
    )
    outputs["x_CostCategory"] = (
        f"coalesce(l.x_CostCategory, case l._ai_rule {categories} end)" if categories else "l.x_CostCategory"
    )
    per_unit = " ".join(
        f"when {i} then {r.tokens_per_unit}" for i, r in enumerate(rules) if r.tokens_per_unit is not None
    )
    rule_unit = f"case l._ai_rule {per_unit} end" if per_unit else "null"
    unit = params.bind(_TOKEN_UNIT)
    named_block = (
        f"coalesce(try_cast(replace(regexp_extract(l.PricingUnit, {unit}, 1), ',', '') as decimal(38, 0)), 1) * "
        f"case upper(regexp_extract(l.PricingUnit, {unit}, 2)) when 'K' then 1000 when 'M' then 1000000 else 1 end"
    )
    typed = f"({outputs['x_TokenType']}) is not null"
    consumed = f"{typed} and coalesce(l.ConsumedUnit ilike 'token%', false)"
    block = (
        f"case when {typed} then coalesce(case when regexp_matches(l.PricingUnit, {unit}) then {named_block} end, "
        f"{rule_unit}) end"
    )
    read = ", ".join(f"{sql} as {_quote('_ai_' + column)}" for column, sql in outputs.items())
    replaced = ", ".join(f"r.{_quote('_ai_' + column)} as {_quote(column)}" for column in outputs)
    tokens = (
        "coalesce(c.x_Tokens, cast(case when r._ai_consumed then c.ConsumedQuantity "
        "else c.PricingQuantity * r._ai_block end as decimal(38, 10)))"
    )
    on = " and ".join(f"c.{k} is not distinct from r.{k}" for k in keys)
    return (
        f"with ai_kinds as (select distinct {', '.join(keys)} from {lines}), "
        f"ai_ruled as (select *, {f'case {index} end' if index else 'null::integer'} as _ai_rule from ai_kinds l), "
        f"ai_read as (select {', '.join(keys)}, {read}, {consumed} as _ai_consumed, {block} as _ai_block "
        "from ai_ruled l) "
        f"select c.* replace ({replaced}, {tokens} as x_Tokens) from {lines} c join ai_read r on {on}"
    )


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
        joins.append(f"left join {_quote('owner_' + owner)} o_{owner} on o_{owner}.key = {key}")
    for dimension, sources in (rule.dimensions or {}).items():
        exprs = [
            attribute_sql(s, params) if s.startswith("tag:") else f"o_{s[6:]}.{_quote(dimension)}" for s in sources
        ]
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
    keys = " and ".join(f"{attribute_sql(a, params)} = d.{_quote(k)}" for a, k in rule.join.items())
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
    keys = " and ".join(f"{attribute_sql(a, params, 'l2')} = d.{_quote(k)}" for a, k in rule.join.items())
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
