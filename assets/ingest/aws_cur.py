"""AWS Cost and Usage Reports as `cost_lines`: CUR 2.0 (Data Exports; Parquet, CSV or CSV.gz) and legacy CUR
(CSV or CSV.gz), fetched from S3 or from a local folder with the bucket's layout through a manifest, or read from
files a user downloaded by hand (`options.layout`, see CurOptions).

Where the files are (`path` = `s3://bucket/prefix/export-name` or `/a/folder/prefix/export-name`):
```
CUR 2.0  <export>/metadata/BILLING_PERIOD=YYYY-MM/[<execution>/]<export>-Manifest.json   dataFiles: s3 URIs
         <export>/data/BILLING_PERIOD=YYYY-MM/[<execution>/]<export>-00001.snappy.parquet
legacy   <report>/YYYYMMDD-YYYYMMDD/<report>-Manifest.json                                 reportKeys: keys
         <report>/YYYYMMDD-YYYYMMDD/<assemblyId>/<report>-00001.csv.gz
```
AWS writes the manifest after every data file of a delivery has landed, so the manifest is the commit marker: a
day takes the newest manifest of its billing period and exactly the files it lists (never the folder's other
files: older deliveries stay beside the new one). Each refresh re-delivers the whole period to date, and the
period after it ends, for weeks; each day's raw manifest is therefore rewritten from the latest delivery, which
replaces the period's files at once. A listed file newer than its manifest means a delivery is being written
over the one the manifest describes: the fetch fails rather than mix two deliveries.

Columns are found by name with case and separators ignored, so CUR 2.0's `line_item_unblended_cost` and legacy
`lineItem/UnblendedCost` are the same column (also `reservation_reservation_a_r_n` and `reservation/ReservationARN`).
Amortized cost (`EffectiveCost`) is the standard CASE over the line item type (AWS CID `summary_view`); inputs
are added as decimals parsed from their text, a blank input counts as 0 as in CID's sums. `BilledCost` is the
unblended cost, `ListCost` the public on-demand cost, `SkuId` the usage type, `SkuMeter` the operation,
`x_Provider` is `aws`, `x_Model` the model a Bedrock token usage type names, and `x_ApiKeyId` the IAM principal
that made the call (CUR 2.0 with IAM principal data): AWS's counterpart of an API key, for owner files. Which
lines are GPU, idle GPU, inference or data transfer is left to the `cost_categories` rules of the config.
"""

from __future__ import annotations

import glob as globlib
import json
import re
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal, Protocol

import duckdb
from pydantic import Field, ValidationInfo, model_validator

from assets.ingest.base import Fetched, SourceEntry, SourceKind
from assets.ingest.focus import FOCUS
from assets.ingest.options import KindOptions, options_as
from assets.ingest.readers import (
    UnreadableFile,
    column_text,
    create_view,
    csv_records,
    file_format,
    parquet_records,
    project,
    quote_name,
    relation_columns,
    sql_string,
)
from assets.ingest.records import with_error_column
from assets.schemas import COST_LINES, MONEY


class CurOptions(KindOptions):
    """`options` of an `aws_cur` source. `region` and `endpoint_url` point boto3 at S3 or an S3-compatible
    server; credentials come only from boto3's default chain (environment, profile, SSO, instance role).
    `currency` stands in for `line_item_currency_code` where a file lacks it (AWS bills in USD by default).
    `models` renames the model named by a Bedrock usage type to the id your telemetry logs for it. `layout` says
    where the files are: `export` (the export's folders, through the billing period's manifest), `files` (CUR files
    downloaded by hand: `path` is a file, a folder or a glob, every file is read and each day keeps its rows) or
    `auto` (the default: `files` for a local file, a glob, or a folder holding no manifest; else `export`).
    Given the source's path: an `s3://` path is an export (not `layout: files`), and only it takes `region` and
    `endpoint_url`."""

    layout: Literal["auto", "export", "files"] = "auto"
    region: str | None = None
    endpoint_url: str | None = Field(default=None, pattern=r"^https?://")
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    models: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _fits_the_path(self, info: ValidationInfo) -> CurOptions:
        path = (info.context or {}).get("path")
        if path is None:
            return self
        if path.startswith("s3://") and self.layout == "files":
            raise ValueError("layout files reads local files; use layout export (or auto) for an s3:// path")
        s3_only = [name for name in ("region", "endpoint_url") if getattr(self, name) is not None]
        if s3_only and not path.startswith("s3://"):
            raise ValueError(f"{' and '.join(s3_only)} apply to an export in S3 (an s3:// path), not to {path!r}")
        return self


def cur_options(options: Mapping[str, Any]) -> CurOptions:
    return options_as(CurOptions, options)


# ---------------------------------------------------------------------------------------------------------------
# Reading: one CUR file as text rows of cost_lines


PERIODIC = "periodic"
"""ChargeFrequency by the line's period: `Recurring` when the line covers its whole billing period (how AWS writes a
monthly tax or support fee), else `One-Time` (a fee charged at a point in time, like an upfront purchase)."""


@dataclass(frozen=True)
class LineItemType:
    """What a `line_item_line_item_type` is in FOCUS terms (the table in README's AWS section)."""

    category: str
    frequency: str
    """One-Time, Recurring, Usage-Based, or PERIODIC (decided by the line's charge and billing periods)."""
    pricing: str | None = None
    """PricingCategory: Standard (Dynamic for Spot usage), Committed, or null off usage and purchases."""
    commitment_status: str | None = None
    consumed: bool = False
    """Its usage amount is consumption (AWS counts quantity only for these types)."""
    correction: bool = False
    """A line of an earlier billing period than the one it is billed in is a FOCUS `Correction`."""


_DISCOUNT = LineItemType("Credit", "Usage-Based")
LINE_ITEM_TYPES: dict[str, LineItemType] = {
    "Usage": LineItemType("Usage", "Usage-Based", "Standard", consumed=True),
    "DiscountedUsage": LineItemType("Usage", "Usage-Based", "Committed", "Used", consumed=True),
    "SavingsPlanCoveredUsage": LineItemType("Usage", "Usage-Based", "Committed", "Used", consumed=True),
    "SavingsPlanNegation": LineItemType("Usage", "Usage-Based", "Committed", "Used"),
    # One AWS line carries both the fee (billed) and the part of the commitment left unused (amortized): as
    # EffectiveCost is what gets allocated, it is FOCUS's unused-commitment usage line. The fee is due every period
    # whether the commitment is used or not: Recurring.
    "SavingsPlanRecurringFee": LineItemType("Usage", "Recurring", "Committed", "Unused"),
    "RIFee": LineItemType("Usage", "Recurring", "Committed", "Unused"),
    "SavingsPlanUpfrontFee": LineItemType("Purchase", "One-Time", "Standard"),
    "Fee": LineItemType("Purchase", PERIODIC, "Standard"),
    "FlatRateSubscription": LineItemType("Purchase", "Recurring", "Standard"),
    "Tax": LineItemType("Tax", PERIODIC),
    # credits and discounts are written against the usage they reduce, line by line
    "Credit": _DISCOUNT,
    # CUR does not say which charge a refund reverses, so it cannot take that charge's category
    "Refund": LineItemType("Credit", "One-Time", correction=True),
    **dict.fromkeys(
        (
            "EdpDiscount",
            "PrivateRateDiscount",
            "BundledDiscount",
            "DistributorDiscount",
            "SppDiscount",
            "Discount",
            "RiVolumeDiscount",
        ),
        _DISCOUNT,
    ),
}
"""Every line item type AWS documents → its FOCUS values, the one place they are decided; a line of another type
is quarantined, naming it. CommitmentDiscountCategory / Type follow the commitment the line names (a Savings Plan
ARN: Spend / Savings Plan; a reservation ARN: Usage / Reserved Instance)."""

SPOT_USAGE = r"(^|-)SpotUsage(:|$)"
"""Usage types of Spot capacity: PricingCategory `Dynamic`."""

AMORTIZED_COST = """
case {line_type}
    when 'SavingsPlanCoveredUsage' then {sp_effective_cost}
    when 'SavingsPlanRecurringFee' then {sp_unused_commitment}
    when 'SavingsPlanNegation' then '0'
    when 'SavingsPlanUpfrontFee' then '0'
    when 'DiscountedUsage' then {ri_effective_cost}
    when 'RIFee' then {ri_unused_fees}
    else case
        when {line_type} = 'Fee' and coalesce({ri_arn}, '') <> '' then '0'
        when {line_type} = 'Refund' and {product_code} = 'ComputeSavingsPlans'
            and {description} like 'Refund for one-time fee for Savings Plan ID%' then '0'
        else {unblended_cost}
    end
end
"""
"""Amortized cost by the standard formula: covered usage at its commitment rate, the unused commitment on the
fee lines, upfront payments (already spread over the term by the rates above) and SP negations at 0."""

_AMORTIZED_INPUTS: dict[str, tuple[str, tuple[tuple[str, int], ...]]] = {
    "sp_effective_cost": ("SavingsPlanCoveredUsage", (("savings_plan_savings_plan_effective_cost", 1),)),
    "sp_unused_commitment": (
        "SavingsPlanRecurringFee",
        (("savings_plan_total_commitment_to_date", 1), ("savings_plan_used_commitment", -1)),
    ),
    "ri_effective_cost": ("DiscountedUsage", (("reservation_effective_cost", 1),)),
    "ri_unused_fees": (
        "RIFee",
        (("reservation_unused_amortized_upfront_fee_for_billing_period", 1), ("reservation_unused_recurring_fee", 1)),
    ),
}
"""Placeholder of AMORTIZED_COST → (the line item type it is for, its columns with their signs)."""

BEDROCK_MODEL = (
    r"^(?:[A-Z]{2,4}[0-9]?-)?(.+?)(?:-(?i:batch|flex|priority|latency-optimized))*"
    r"-(?:input|output|cache-read-input|cache-write-input)-tokens?(?:-count)?(?:-|$)"
)
"""The model in a Bedrock token usage type, after the region prefix and before tier and token type:
`USE1-Claude4.6Sonnet-cache-read-input-token-count` → `Claude4.6Sonnet`, `USW2-TitanEmbeddingsV2-Text-input-tokens`
→ `TitanEmbeddingsV2-Text`."""

UNUSED_CAPACITY = r"(^|-)Unused(Box|Ded):"
"""Usage types of hours an On-Demand Capacity Reservation held but no instance ran in."""

LEGACY_TAG_PREFIX = "resourceTags/"
_INTEGER_TYPES = ("BIGINT", "INTEGER", "HUGEINT", "UBIGINT")


def _normal(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


class _FileColumns:
    """The columns of one CUR file, looked up by their CUR 2.0 names."""

    def __init__(self, present: dict[str, str]) -> None:
        self.present = present
        self.by_key: dict[str, str] = {}
        for name in present:
            self.by_key.setdefault(_normal(name), name)

    def name(self, cur2_name: str) -> str | None:
        return self.by_key.get(_normal(cur2_name))

    def text(self, cur2_name: str) -> str | None:
        """The column as text, or None when the file lacks it."""
        name = self.name(cur2_name)
        return column_text(name, self.present[name]) if name else None

    def sql(self, cur2_name: str) -> str:
        return self.text(cur2_name) or "null"

    def account(self, cur2_name: str) -> str | None:
        """An account id as 12-digit text, also when a re-encoded file made it a number."""
        name = self.name(cur2_name)
        if name and self.present[name].startswith(_INTEGER_TYPES):
            return f"lpad({quote_name(name)}::bigint::varchar, 12, '0')"
        return self.text(cur2_name)

    def product(self, key: str) -> str:
        """An attribute of the `product` map (CUR 2.0; a JSON object in CSV) or of the legacy `product/<key>`."""
        name = self.name("product")
        if name and self.present[name].startswith("MAP"):
            in_map = f"map_extract_value({quote_name(name)}, {sql_string(key)})"
        elif name:
            in_map = f"try(json_extract_string({quote_name(name)}, {sql_string('$.' + key)}))"
        else:
            in_map = "null"
        return _first(in_map, self.sql(f"product_{key}"))

    def tags(self) -> str | None:
        """`Tags` as JSON text: the `resource_tags` map and legacy `resourceTags/*` columns, keys without the
        `user_` / `user:` prefix of user-defined tags. Text that is not a JSON object is kept for the validator."""
        maps = []
        text = "null"
        name = self.name("resource_tags")
        if name:
            tags = quote_name(name)
            if not self.present[name].startswith("MAP"):
                text = f"{tags}::varchar"
                tags = f"try_cast(try_cast({text} as json) as map(varchar, varchar))"
            keys = f"list_transform(map_keys({tags}), lambda k: regexp_replace(k, '^user_', ''))"
            maps.append(f"map({keys}, map_values({tags}))")
        legacy = [n for n in self.present if n.startswith(LEGACY_TAG_PREFIX)]
        if legacy:
            entries = ", ".join(
                f"struct_pack(key := {sql_string(n[len(LEGACY_TAG_PREFIX) :].removeprefix('user:'))}, "
                f"value := {quote_name(n)}::varchar)"
                for n in legacy
            )
            maps.append(f"map_from_entries(list_filter([{entries}], lambda e: nullif(e.value, '') is not null))")
        if not maps:
            return None
        merged = maps[0] if len(maps) == 1 else f"map_concat({', '.join(maps)})"
        return f"coalesce(to_json({merged})::varchar, {text})"


def _named_if(account: str, kind: str) -> str:
    """SQL: the kind of an account (FOCUS BillingAccountType / SubAccountType) on the lines that name one."""
    return f"case when nullif(trim({account}), '') is not null then {sql_string(kind)} end"


def _first(*exprs: str) -> str:
    """The first non-blank of text expressions."""
    return "coalesce(" + ", ".join(f"nullif(trim({e}), '')" for e in exprs) + ")"


def _amount(terms: list[tuple[str, int]]) -> str:
    """Σ sign × term as decimal text. The first term that is not a number is returned as it is, so that the
    validator rejects `EffectiveCost` showing that value."""
    bad = " ".join(
        f"when try_cast({t} as {MONEY}) is null and nullif(trim({t}), '') is not null then {t}" for t, _ in terms
    )
    total = " + ".join(f"{'-' if sign < 0 else ''}coalesce(try_cast({t} as {MONEY}), 0)" for t, sign in terms)
    return f"case {bad} else ({total})::varchar end"


def _line_type_case(line_type: str) -> str:
    """SQL: the line item type's `LineItemType` as a struct, null for an unknown type."""

    def literal(value: str | None) -> str:
        return sql_string(value) if value is not None else "null::varchar"

    whens = " ".join(
        f"when {sql_string(name)} then struct_pack(category := {literal(t.category)}, "
        f"frequency := {literal(t.frequency)}, pricing := {literal(t.pricing)}, "
        f"status := {literal(t.commitment_status)}, consumed := {str(t.consumed).lower()}, "
        f"correction := {str(t.correction).lower()})"
        for name, t in LINE_ITEM_TYPES.items()
    )
    return f"case {line_type} {whens} end"


def _instant(text: str) -> str:
    """A timestamp column's text as TIMESTAMPTZ, as the validator casts it (null when blank or not a time)."""
    return f"try_cast(nullif(trim({text}), '') as timestamptz)"


def _amortized_cost(
    columns: _FileColumns, line_type: str, unblended: str | None
) -> tuple[str | None, list[tuple[str, str, str]]]:
    """SQL of `EffectiveCost` by AMORTIZED_COST, and (condition, reason, missing column) of the lines it cannot be
    computed for: a line item type whose inputs the file lacks (a legacy CUR without the savingsPlan/* columns)."""
    if unblended is None:
        return None, []
    amounts: dict[str, str] = {}
    faults: list[tuple[str, str, str]] = []
    for placeholder, (for_type, inputs) in _AMORTIZED_INPUTS.items():
        missing = [c for c, _ in inputs if columns.text(c) is None]
        if missing:
            amounts[placeholder] = "null"
            reason = f"{missing[0]} missing from file: needed for the amortized cost of {for_type} lines"
            faults.append((f"{line_type} = {sql_string(for_type)}", sql_string(reason), missing[0]))
        else:
            amounts[placeholder] = _amount([(columns.sql(c), sign) for c, sign in inputs])
    sql = AMORTIZED_COST.format(
        line_type=line_type,
        unblended_cost=unblended,
        ri_arn=columns.sql("reservation_reservation_a_r_n"),
        product_code=columns.sql("line_item_product_code"),
        description=columns.sql("line_item_line_item_description"),
        **amounts,
    )
    return sql, faults


_LINE_TYPE_UNKNOWN = "line_item_line_item_type: not a known line item type: "


def _select(con: duckdb.DuckDBPyConnection, path: Path, options: CurOptions) -> str:
    fmt = file_format(path)
    if fmt == "jsonl":
        raise ValueError(f"{path}: Cost and Usage Reports are Parquet, CSV or CSV.gz files")
    records = csv_records(path) if fmt == "csv" else parquet_records(path)
    columns = _FileColumns(relation_columns(con, records))
    type_text = columns.text("line_item_line_item_type")
    if type_text is None:
        raise UnreadableFile(
            f"{path}: not a Cost and Usage Report (no line_item_line_item_type or lineItem/LineItemType)"
        )
    line_type = f"trim({type_text})"
    relation = f"(select r.*, {_line_type_case(line_type)} as _lt from {records} r)"
    unblended = columns.text("line_item_unblended_cost")
    amortized, faults = _amortized_cost(columns, line_type, unblended)
    unknown = f"'{_LINE_TYPE_UNKNOWN}' || coalesce(left({line_type}, 60), '(blank)')"
    error = f"case when _lt is null then {unknown} " + " ".join(f"when {c} then {why}" for c, why, _ in faults) + " end"
    at_fault = " ".join(f"when _error = {why} then {sql_string(column)}" for _, why, column in faults)
    unknown_type = f"starts_with(_error, {sql_string(_LINE_TYPE_UNKNOWN)})"
    error_column = f"case when {unknown_type} then 'line_item_line_item_type' {at_fault} end"
    usage_type = columns.sql("line_item_usage_type")
    usage_amount = columns.sql("line_item_usage_amount")
    pricing_unit = columns.sql("pricing_unit")
    model = f"nullif(regexp_extract({usage_type}, {sql_string(BEDROCK_MODEL)}, 1), '')"
    if options.models:
        aliases = ", ".join(f"{sql_string(k)}: {sql_string(v)}" for k, v in sorted(options.models.items()))
        model = f"coalesce(map_extract_value(MAP {{{aliases}}}, {model}), {model})"
    ri_arn, sp_arn = columns.sql("reservation_reservation_a_r_n"), columns.sql("savings_plan_savings_plan_a_r_n")
    charge_start, billing_start = (
        _instant(columns.sql("line_item_usage_start_date")),
        _instant(columns.sql("bill_billing_period_start_date")),
    )
    whole_period = (
        f"{charge_start} = {billing_start} and "
        f"{_instant(columns.sql('line_item_usage_end_date'))} = {_instant(columns.sql('bill_billing_period_end_date'))}"
    )
    commitment = f"case when {_first(sp_arn)} is not null then 'sp' when {_first(ri_arn)} is not null then 'ri' end"
    marketplace = f"{columns.sql('bill_billing_entity')} = 'AWS Marketplace'"
    exprs: dict[str, str | None] = {
        "BilledCost": unblended,
        "EffectiveCost": amortized,
        "ListCost": columns.text("pricing_public_on_demand_cost"),
        "ListUnitPrice": columns.text("pricing_public_on_demand_rate"),
        "BillingCurrency": _first(columns.sql("line_item_currency_code"), sql_string(options.currency)),
        "BillingAccountId": columns.account("bill_payer_account_id"),
        "BillingAccountName": columns.text("bill_payer_account_name"),
        "BillingAccountType": _named_if(columns.sql("bill_payer_account_id"), "Payer Account"),
        "SubAccountId": columns.account("line_item_usage_account_id"),
        "SubAccountName": columns.text("line_item_usage_account_name"),
        "SubAccountType": _named_if(columns.sql("line_item_usage_account_id"), "Linked Account"),
        "BillingPeriodStart": columns.text("bill_billing_period_start_date"),
        "BillingPeriodEnd": columns.text("bill_billing_period_end_date"),
        "ChargePeriodStart": columns.text("line_item_usage_start_date"),
        "ChargePeriodEnd": columns.text("line_item_usage_end_date"),
        "ChargeCategory": "_lt.category",
        "ChargeClass": f"case when _lt.correction and {charge_start} < {billing_start} then 'Correction' end",
        "ChargeFrequency": f"case when _lt.frequency <> '{PERIODIC}' then _lt.frequency "
        f"when {whole_period} then 'Recurring' else 'One-Time' end",
        "ChargeDescription": columns.text("line_item_line_item_description"),
        "InvoiceIssuerName": columns.text("bill_invoicing_entity"),
        "ServiceProviderName": f"case when {marketplace} then {columns.sql('line_item_legal_entity')} else 'AWS' end",
        "HostProviderName": "'AWS'",
        "ServiceName": _first(columns.product("product_name"), columns.sql("line_item_product_code")),
        "ResourceId": columns.text("line_item_resource_id"),
        "ResourceType": f"case when {columns.sql('line_item_resource_id')} is not null "
        f"then {columns.product('product_family')} end",
        "RegionId": _first(columns.product("region_code"), columns.product("region")),
        "RegionName": columns.product("location"),
        "AvailabilityZone": columns.text("line_item_availability_zone"),
        "SkuId": columns.text("line_item_usage_type"),
        "SkuMeter": columns.text("line_item_operation"),
        "SkuPriceId": columns.text("pricing_rate_code"),
        "PricingQuantity": columns.text("line_item_usage_amount"),
        "PricingUnit": columns.text("pricing_unit"),
        "ConsumedQuantity": f"case when _lt.consumed then {usage_amount} end",
        "ConsumedUnit": f"case when _lt.consumed then {pricing_unit} end",
        "CommitmentDiscountId": _first(sp_arn, ri_arn),
        "CommitmentDiscountStatus": "_lt.status",
        "CommitmentDiscountCategory": f"case {commitment} when 'sp' then 'Spend' when 'ri' then 'Usage' end",
        "CommitmentDiscountType": f"case {commitment} when 'sp' then 'Savings Plan' "
        "when 'ri' then 'Reserved Instance' end",
        "PricingCategory": f"case when _lt.pricing = 'Standard' and regexp_matches({usage_type}, "
        f"{sql_string(SPOT_USAGE)}) then 'Dynamic' else _lt.pricing end",
        # the reservation's ARN (CUR 2.0), else on its unused hours the line's resource: the reservation itself
        "CapacityReservationId": _first(
            columns.sql("capacity_reservation_capacity_reservation_a_r_n"),
            f"case when regexp_matches({usage_type}, {sql_string(UNUSED_CAPACITY)}) "
            f"then {columns.sql('line_item_resource_id')} end",
        ),
        "CapacityReservationStatus": f"case when regexp_matches({usage_type}, {sql_string(UNUSED_CAPACITY)}) "
        "then 'Unused' end",
        "InvoiceId": columns.text("bill_invoice_id"),
        "Tags": columns.tags(),
        "x_Provider": "'aws'",
        "x_Model": model,
        "x_ApiKeyId": columns.text("line_item_iam_principal"),
    }
    return with_error_column(project(path, relation, COST_LINES, exprs, error=error), error_column)


def read_cur(con: duckdb.DuckDBPyConnection, files: list[Path], view: str, options: Mapping[str, Any]) -> None:
    """CUR 2.0 and legacy files may be mixed; each is mapped on its own columns. The AWS manifests landed with
    the data hold no rows and are skipped."""
    parsed = cur_options(options)
    selects = [_select(con, path, parsed) for path in files if path.suffix.lower() != ".json"]
    create_view(con, view, COST_LINES, selects)


# ---------------------------------------------------------------------------------------------------------------
# Fetching: the billing period's manifest and exactly the files it lists


@dataclass(frozen=True)
class _Object:
    key: str
    """Relative to the export's folder, e.g. `metadata/BILLING_PERIOD=2025-01/cur-Manifest.json`."""
    modified_at: datetime


class _Export(Protocol):
    name: str

    def list(self, prefix: str) -> Iterator[_Object]: ...

    def get(self, key: str, workdir: Path) -> Fetched: ...


class _S3Export:
    """An export in S3, read with boto3's default credential chain."""

    def __init__(self, path: str, options: CurOptions) -> None:
        self.bucket, _, root = path.removeprefix("s3://").partition("/")
        self.root = root.strip("/")
        self.name = self.root.rpartition("/")[2]
        if not self.bucket or not self.name:
            raise ValueError(f"aws_cur path {path!r}: expected s3://bucket/prefix/export-name")
        self.client = _s3_client(options.region, options.endpoint_url)
        from botocore.exceptions import BotoCoreError, ClientError  # the SDK loads only when a bucket is read

        self.errors = (BotoCoreError, ClientError)

    def _uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.root}/{key}"

    def list(self, prefix: str) -> Iterator[_Object]:
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=f"{self.root}/{prefix}"
            ):
                for item in page.get("Contents", []):
                    yield _Object(item["Key"][len(self.root) + 1 :], item["LastModified"])
        except self.errors as exc:
            raise RuntimeError(f"{self._uri(prefix)}: cannot list: {exc}") from None

    def get(self, key: str, workdir: Path) -> Fetched:
        target = workdir / key
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=f"{self.root}/{key}")
            with target.open("wb") as out:
                shutil.copyfileobj(response["Body"], out, 8 << 20)
        except self.errors as exc:
            raise RuntimeError(f"{self._uri(key)}: cannot download: {exc}") from None
        return Fetched(target, self._uri(key), response["LastModified"])


@cache
def _s3_client(region: str | None, endpoint_url: str | None) -> Any:
    """One client per process and endpoint: creating one loads botocore's service model (~0.3 s). Credentials
    come from the default chain; temporary ones (SSO, assumed role, instance profile) renew themselves."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        region_name=region,
        endpoint_url=endpoint_url,
        config=Config(retries={"mode": "standard", "max_attempts": 5}),
    )


class _LocalExport:
    """An export in a local folder with the bucket's layout (e.g. made by `aws s3 sync`)."""

    def __init__(self, path: str) -> None:
        self.root = Path(path)
        if not self.root.is_absolute():
            raise ValueError(f"aws_cur path {path!r}: expected s3://bucket/prefix/export-name or an absolute folder")
        self.name = self.root.name

    def list(self, prefix: str) -> Iterator[_Object]:
        folder = (self.root / prefix).parent if not prefix.endswith("/") else self.root / prefix
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                key = path.relative_to(self.root).as_posix()
                if path.is_file() and key.startswith(prefix):
                    yield _Object(key, _mtime(path))

    def get(self, key: str, workdir: Path) -> Fetched:
        path = self.root / key
        if not path.is_file():
            raise FileNotFoundError(f"{path}: listed in the manifest but missing")
        return Fetched(path, str(path), _mtime(path))


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def _export(path: str, options: CurOptions) -> _Export:
    return _S3Export(path, options) if path.startswith("s3://") else _LocalExport(path)


def legacy_period(day: date) -> str:
    """The legacy CUR folder of the billing period (a calendar month, UTC) containing `day`: `20250101-20250201`."""
    start = day.replace(day=1)
    end = date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return f"{start:%Y%m%d}-{end:%Y%m%d}"


def _period_manifest(export: _Export, day: date) -> tuple[_Object, str] | None:
    """The newest manifest of the billing period containing `day`, and the folder under the export that the
    files it lists sit in: CUR 2.0 (`data`), else legacy (the period folder). None when not delivered yet."""
    cur2 = [o for o in export.list(f"metadata/BILLING_PERIOD={day:%Y-%m}/") if o.key.endswith("-Manifest.json")]
    if cur2:
        return max(cur2, key=lambda o: (o.modified_at, o.key)), "data"
    period = legacy_period(day)
    key = f"{period}/{export.name}-Manifest.json"
    legacy = [o for o in export.list(key) if o.key == key]
    return (legacy[0], period) if legacy else None


def _listed_keys(manifest: Fetched, export_name: str, folder: str) -> list[str]:
    """The data files a manifest lists, as keys relative to the export: CUR 2.0 `dataFiles` are s3 URIs, legacy
    `reportKeys` are bucket keys. A listed file outside the export's `folder` is an error, not a file to fetch."""
    try:
        content = json.loads(manifest.path.read_bytes())
    except ValueError as exc:
        raise ValueError(f"{manifest.origin}: not a CUR manifest: {exc}") from None
    listed = content.get("dataFiles", content.get("reportKeys")) if isinstance(content, dict) else None
    if not isinstance(listed, list) or not all(isinstance(x, str) for x in listed):
        raise ValueError(f"{manifest.origin}: not a CUR manifest (no dataFiles or reportKeys list)")
    marker = f"/{export_name}/{folder}/"
    keys = []
    for item in listed:
        path = "/" + (item.removeprefix("s3://").partition("/")[2] if item.startswith("s3://") else item.lstrip("/"))
        at = path.rfind(marker)
        key = path[at + len(export_name) + 2 :] if at >= 0 else ""
        if not key or ".." in key.split("/"):
            raise ValueError(f"{manifest.origin}: lists {item}, which is not under {export_name}/{folder}/")
        keys.append(key)
    return keys


def reads_files(source: SourceEntry) -> bool:
    """Whether the source's path holds CUR files downloaded by hand rather than an export's folders (see
    CurOptions.layout); landing then reads them as a local kind's files, each day keeping its rows in staging."""
    layout = cur_options(source.options).layout
    if layout != "auto":
        return layout == "files"
    if "://" in source.path:
        return False
    if globlib.has_magic(source.path) or Path(source.path).is_file():
        return True
    return Path(source.path).is_dir() and next(Path(source.path).rglob("*-Manifest.json"), None) is None


def fetch_cur(source: SourceEntry, day: date, workdir: Path) -> list[Fetched]:
    """The manifest of the billing period containing `day` and the files it lists (none before AWS delivers).
    Files downloaded by hand (`reads_files`) are landed as a local kind's, without a fetch."""
    options = cur_options(source.options)
    export = _export(source.path, options)
    found = _period_manifest(export, day)
    if found is None:
        return []
    manifest_object, folder = found
    manifest = export.get(manifest_object.key, workdir)
    committed = manifest_object.modified_at.replace(microsecond=0)
    fetched = [manifest]
    for key in _listed_keys(manifest, export.name, folder):
        item = export.get(key, workdir)
        if item.modified_at.replace(microsecond=0) > committed:
            raise RuntimeError(
                f"{item.origin} changed after {manifest.origin} was written: AWS is re-delivering the billing "
                "period; run the day again once the delivery is complete"
            )
        fetched.append(item)
    return fetched


AWS_CUR = SourceKind(
    "aws_cur",
    "cost_lines",
    read_cur,
    checks=FOCUS.checks,
    fetch=fetch_cur,
    reads_files=reads_files,
    options_model=CurOptions,
)
