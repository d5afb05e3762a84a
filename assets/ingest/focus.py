"""FOCUS 1.0 to 1.4 Cost and Usage files (CSV, CSV.gz or Parquet, chosen by extension) as `cost_lines`.

The staging names are FOCUS 1.3/1.4's; older files differ in who sells and who hosts. FOCUS ≤ 1.2 has
`ProviderName` (the platform that made the charge available) and `PublisherName` (who produced what was
bought: a Marketplace seller when it differs from the provider); 1.3 added `ServiceProviderName` (who sells)
and `HostProviderName` (where it runs), and 1.4 removed the old pair. So a file that `focus_version` finds to
be ≤ 1.2 maps `ServiceProviderName` ← `PublisherName`, else `ProviderName`, and `HostProviderName` ←
`ProviderName`; a 1.3/1.4 file's own columns are kept as they are. `InvoiceIssuerName` is the same in all.
Project extension columns (`x_Provider`, `x_Model`, `x_ApiKeyId`, `x_CostCategory`, …) are kept when present;
without `x_ApiKeyId`, the consumer of the line (`CredentialId`, else `PrincipalId`, of the FOCUS AI billing
examples) is its key for owner files. Other columns are ignored; the AI-line rules (`assets/ai_lines.yaml`) read
provider, model and token type from `SkuPriceDetails`, `SkuMeter` and the provider columns at staging.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb

from assets.ingest.base import SourceKind
from assets.ingest.readers import (
    column_text,
    create_view,
    csv_records,
    file_format,
    parquet_records,
    project,
    quote_name,
    relation_columns,
)
from assets.ingest.validate import RowCheck
from assets.schemas import COST_LINES

_VERSION_COLUMNS: tuple[tuple[str, frozenset[str]], ...] = (
    ("1.4", frozenset({"InvoiceDetailId", "CommitmentProgramEligibilityDetails"})),
    (
        "1.3",
        frozenset(
            {
                "ServiceProviderName",
                "HostProviderName",
                "AllocatedMethodId",
                "AllocatedMethodDetails",
                "AllocatedResourceId",
                "AllocatedResourceName",
                "AllocatedTags",
                "ContractApplied",
            }
        ),
    ),
    (
        "1.2",
        frozenset(
            {
                "InvoiceId",
                "BillingAccountType",
                "SubAccountType",
                "PricingCurrency",
                "PricingCurrencyContractedUnitPrice",
                "PricingCurrencyEffectiveCost",
                "PricingCurrencyListUnitPrice",
            }
        ),
    ),
    (
        "1.1",
        frozenset(
            {
                "SkuMeter",
                "SkuPriceDetails",
                "CapacityReservationId",
                "CapacityReservationStatus",
                "CommitmentDiscountQuantity",
                "CommitmentDiscountUnit",
                "ServiceSubcategory",
            }
        ),
    ),
)
"""Columns each version added, newest first (from the FOCUS 1.4 column inventory)."""


def focus_version(columns: set[str] | Mapping[str, Any]) -> str:
    """The FOCUS version a file's columns say it is, as `"1.0"` … `"1.4"`.

    The newest version whose added columns appear wins. Most added columns are conditional and may be absent,
    so 1.4 is also recognised by its breaking change: `ServiceProviderName` without the `ProviderName` that
    1.3 still carried. A file with none of the markers is 1.0.
    """
    present = set(columns)
    if "ServiceProviderName" in present and "ProviderName" not in present:
        return "1.4"
    return next((version for version, added in _VERSION_COLUMNS if added & present), "1.0")


def tags_text(expr: str) -> str:
    """SQL normalising a FOCUS `Tags` JSON object to one of strings: tag values may be JSON numbers, booleans
    (a valueless key is `true`) or null. Text that is not a flat JSON object is kept so the validator rejects
    it with the raw value."""
    as_map = f"try_cast(try_cast({expr} as json) as map(varchar, varchar))"
    return f"coalesce(to_json({as_map})::varchar, {expr})"


def with_allocated_tags(tags: str | None, allocated: str) -> str:
    """SQL adding a FOCUS 1.3+ allocated charge's `AllocatedTags` (the tags of what a split cost allocation gave the
    charge to, kept out of `Tags` by FOCUS) to its `Tags`, so that `tag:` rules and owner lookups see them. Text that
    is not a JSON object is kept as it is, for the validator to reject."""
    tags = tags or "null"
    merged = f"try(json_merge_patch(coalesce({tags}, '{{}}'), {allocated}))::varchar"
    return (
        f"case when {allocated} is null or ({tags} is not null and try_cast({tags} as json) is null) then {tags} "
        f"else coalesce({merged}, {allocated}) end"
    )


def _select(con: duckdb.DuckDBPyConnection, path: Path) -> str:
    fmt = file_format(path)
    if fmt == "jsonl":
        raise ValueError(f"{path}: FOCUS files are CSV, CSV.gz or Parquet")
    relation = csv_records(path) if fmt == "csv" else parquet_records(path)
    present = relation_columns(con, relation)
    exprs: dict[str, str | None] = {
        c.name: column_text(c.name, present[c.name]) if c.name in present else None for c in COST_LINES
    }
    if "AllocatedTags" in present:
        exprs["Tags"] = with_allocated_tags(exprs["Tags"], column_text("AllocatedTags", present["AllocatedTags"]))
    if exprs["Tags"] is not None:
        exprs["Tags"] = tags_text(exprs["Tags"])
    if exprs["x_ApiKeyId"] is None:  # who consumed the line (FOCUS 1.4 AI billing): its API key, else its principal
        consumer = [column_text(n, present[n]) for n in ("CredentialId", "PrincipalId") if n in present]
        exprs["x_ApiKeyId"] = f"coalesce({', '.join(consumer)})" if consumer else None
    if focus_version(present) < "1.3":
        provider, publisher = (
            column_text(n, present[n]) if n in present else "null" for n in ("ProviderName", "PublisherName")
        )
        exprs["ServiceProviderName"] = f"coalesce(nullif(trim({publisher}), ''), {provider})"
        exprs["HostProviderName"] = provider
    return project(path, relation, COST_LINES, exprs)


def read_focus(con: duckdb.DuckDBPyConnection, files: list[Path], view: str, options: Mapping[str, Any]) -> None:
    """Files may mix FOCUS versions and formats; each is mapped on its own columns."""
    create_view(con, view, COST_LINES, [_select(con, path) for path in files])


FOCUS = SourceKind(
    "focus",
    "cost_lines",
    read_focus,
    (
        RowCheck(
            "ChargePeriodEnd",
            f"{quote_name('ChargePeriodEnd')} > {quote_name('ChargePeriodStart')}",
            "charge period does not end after it starts",
        ),
    ),
)
