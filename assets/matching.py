"""Compile the config's match conditions (`match:` of a cost category, an allocation rule or a spread) to SQL.

Staging (cost categories, spreads) and allocation (rules) both match cost lines by these conditions, so they live
below both. Identifiers in the generated SQL come only from validated names (the whitelists in `assets.config`);
every value from a config file travels as a bound parameter. Nothing a user writes is pasted into SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from assets.config import Condition, CostCategoryRule


@dataclass
class Params:
    """Collects bound parameters under generated names."""

    values: dict[str, Any] = field(default_factory=dict)

    def bind(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"${name}"


def quote(name: str) -> str:
    """A validated name as a double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def attribute_sql(attribute: str, params: Params, alias: str = "l") -> str:
    """A validated attribute (`ServiceName`, `tag:team`) as SQL over the cost-line alias."""
    if attribute.startswith("tag:"):
        return f"{alias}.{quote('Tags')}[{params.bind(attribute[4:])}]"
    return f"{alias}.{quote(attribute)}"


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
        f"coalesce(l.{quote('x_CostCategory')}, case {whens} else 'other' end)"
        if whens
        else (f"coalesce(l.{quote('x_CostCategory')}, 'other')")
    )
