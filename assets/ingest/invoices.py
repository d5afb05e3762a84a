"""Invoice lines of AI vendors that have no billing export (vector databases, observability, GPU clouds, human
review, fine-tuning), as CSV(.gz) or Parquet files, as `cost_lines`.

One row is one invoice line: `vendor`, `invoice_id`, `period_start`, `period_end`, `amount`, `currency` (all
required), and optionally `description`, `sku`, `quantity`, `unit`, `tags`, `category`, `charge_category`,
`provider`. Option `fields` maps these names to the file's own column names, e.g. `{invoice_id: "Invoice No"}`.

| column | cost_lines |
|---|---|
| vendor | InvoiceIssuerName and ServiceProviderName |
| invoice_id | InvoiceId |
| period_start, period_end | ChargePeriodStart, ChargePeriodEnd (half-open, see below) |
| amount | BilledCost and EffectiveCost, exactly as written (a Parquet DECIMAL stays exact) |
| currency | BillingCurrency, upper-cased |
| description, sku | ChargeDescription, SkuId |
| quantity, unit | PricingQuantity, PricingUnit |
| tags | Tags: a JSON object, or `key=value;key=value` |
| category | x_CostCategory (one of the cost categories; else the config's category rules decide) |
| charge_category | ChargeCategory (Usage, Purchase, Tax, Credit, Adjustment; `Usage` when absent) |
| provider | x_Provider, for rules that join a line to usage by provider |

Periods: invoices state the last day a line covers ("1–31 March"), so `period_end` is **inclusive** by default and
becomes the exclusive `ChargePeriodEnd` at midnight UTC after that day (`2026-03-31` or `2026-03-31 23:59:59` →
`2026-04-01T00:00:00Z`). Option `period_end: exclusive` takes it as the instant the period ends instead. Dates
without a time are midnight UTC. Staging spreads a line whose period spans several days exactly over those days:
evenly, or by a usage driver when the source says so (`spread`, see `sql/staging/line_spread.sql`). A line that
does not end after it starts, has no invoice id or vendor, an unknown category or charge category, or tags that
are neither form is rejected naming its column.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import duckdb
from pydantic import Field, field_validator

from assets.ingest.base import SourceKind
from assets.ingest.focus import FOCUS, tags_text
from assets.ingest.options import KindOptions, options_as
from assets.ingest.readers import (
    MISSING_COLUMN,
    column_text,
    create_view,
    csv_records,
    file_format,
    parquet_records,
    project,
    quote_name,
    relation_columns,
    sql_string,
    utc_text,
)
from assets.ingest.records import with_error_column
from assets.ingest.validate import RowCheck
from assets.schemas import COST_CATEGORIES, COST_LINES

COLUMNS = (
    "vendor",
    "invoice_id",
    "period_start",
    "period_end",
    "amount",
    "currency",
    "description",
    "sku",
    "quantity",
    "unit",
    "tags",
    "category",
    "charge_category",
    "provider",
)
REQUIRED = COLUMNS[:6]

CHARGE_CATEGORIES = ("Usage", "Purchase", "Tax", "Credit", "Adjustment")
"""FOCUS ChargeCategory values."""


def key_value_tags(expr: str) -> str:
    """SQL turning `key=value;key=value` text into a JSON object; the text itself when a part has no `=` or an
    empty key, or a key repeats (the validator then rejects it showing the value)."""
    parts = f"list_filter(string_split({expr}, ';'), lambda s: trim(s) <> '')"
    well_formed = (
        f"list_bool_and(list_transform({parts}, lambda s: trim(split_part(s, '=', 1)) <> '' and contains(s, '=')))"
    )
    entries = (
        f"list_transform({parts}, lambda s: struct_pack(k := trim(split_part(s, '=', 1)), "
        "v := trim(substr(s, strpos(s, '=') + 1))))"
    )
    as_json = f"to_json(try(map_from_entries({entries})))::varchar"
    return f"case when {well_formed} then coalesce({as_json}, {expr}) else {expr} end"


def _tags(expr: str) -> str:
    return f"case when starts_with(ltrim({expr}), '{{') then {tags_text(expr)} else {key_value_tags(expr)} end"


def _period_end(expr: str, inclusive: bool) -> str:
    if not inclusive:
        return expr
    day_after = f"timezone('UTC', try_cast({utc_text(expr)} as timestamptz))::date + 1"
    return f"coalesce(strftime({day_after}, '%Y-%m-%dT%H:%M:%SZ'), {expr})"


def _select(con: duckdb.DuckDBPyConnection, path: Path, names: Mapping[str, str], inclusive: bool) -> str:
    fmt = file_format(path)
    if fmt == "jsonl":
        raise ValueError(f"{path}: invoice lines are read from CSV, CSV.gz or Parquet files")
    relation = csv_records(path) if fmt == "csv" else parquet_records(path)
    present = relation_columns(con, relation)
    text = {c: column_text(names[c], present[names[c]]) if names[c] in present else "null" for c in COLUMNS}
    category = f"lower(trim({text['charge_category']}))"
    charge = f"coalesce(upper(left({category}, 1)) || substr({category}, 2), 'Usage')"
    exprs = {
        "InvoiceIssuerName": text["vendor"],
        "ServiceProviderName": text["vendor"],
        "InvoiceId": text["invoice_id"],
        "ChargePeriodStart": text["period_start"],
        "ChargePeriodEnd": _period_end(text["period_end"], inclusive),
        "BilledCost": text["amount"],
        "EffectiveCost": text["amount"],
        "BillingCurrency": f"upper(trim({text['currency']}))",
        "ChargeDescription": text["description"],
        "SkuId": text["sku"],
        "PricingQuantity": text["quantity"],
        "PricingUnit": text["unit"],
        "Tags": _tags(text["tags"]),
        "x_CostCategory": f"lower(trim({text['category']}))",
        "ChargeCategory": charge,
        "x_Provider": f"lower(trim({text['provider']}))",
    }
    missing = [c for c in REQUIRED if names[c] not in present]
    if missing:
        selected = project(path, relation, COST_LINES, exprs, error=sql_string(MISSING_COLUMN))
        return with_error_column(selected, sql_string(names[missing[0]]))
    return project(path, relation, COST_LINES, exprs)


class InvoiceOptions(KindOptions):
    """Options: `fields` (invoice column → the file's name for it) and `period_end` (`inclusive`, the default, or
    `exclusive`)."""

    fields: dict[str, str] = Field(default_factory=dict)
    period_end: Literal["inclusive", "exclusive"] = "inclusive"

    @field_validator("fields")
    @classmethod
    def _invoice_columns(cls, fields: dict[str, str]) -> dict[str, str]:
        if set(fields) - set(COLUMNS) or not all(fields.values()):
            raise ValueError(f"invoice columns ({', '.join(COLUMNS)}) → the file's column names")
        return fields


def read_invoices(con: duckdb.DuckDBPyConnection, files: list[Path], view: str, options: Mapping[str, Any]) -> None:
    """Options: `InvoiceOptions`."""
    parsed = options_as(InvoiceOptions, options)
    fields, period_end = parsed.fields, parsed.period_end
    names = {c: fields.get(c, c) for c in COLUMNS}
    create_view(con, view, COST_LINES, [_select(con, p, names, period_end == "inclusive") for p in files])


def _one_of(column: str, values: tuple[str, ...], reason: str) -> RowCheck:
    listed = ", ".join(sql_string(v) for v in values)
    return RowCheck(column, f"{quote_name(column)} is null or {quote_name(column)} in ({listed})", reason, shown=True)


INVOICE_CHECKS: tuple[RowCheck, ...] = (
    *FOCUS.checks,
    RowCheck("InvoiceId", f"{quote_name('InvoiceId')} is not null", "invoice id missing"),
    RowCheck("InvoiceIssuerName", f"{quote_name('InvoiceIssuerName')} is not null", "vendor missing"),
    _one_of("x_CostCategory", COST_CATEGORIES, "unknown cost category"),
    _one_of("ChargeCategory", CHARGE_CATEGORIES, "unknown charge category"),
)

INVOICE_LINES = SourceKind("invoice_lines", "cost_lines", read_invoices, INVOICE_CHECKS, options_model=InvoiceOptions)
