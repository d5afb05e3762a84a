"""Recognise AI lines in cloud bills: the `ai_lines:` rules of the allocation config (and the shipped defaults in
`assets/ai_lines.yaml`) give a cost line its provider, model, token type, service tier and consumer, compiled to SQL.

Staging applies them to every bill kind, so they live below staging beside the `match:` compiler they build on.
"""

from __future__ import annotations

import re

from assets.config import AiLineRule, Extract
from assets.matching import Params, attribute_sql, match_sql, quote

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
    keys = [quote(k) for k in _ai_keys(rules)]
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
    read = ", ".join(f"{sql} as {quote('_ai_' + column)}" for column, sql in outputs.items())
    replaced = ", ".join(f"r.{quote('_ai_' + column)} as {quote(column)}" for column in outputs)
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
