"""Google Cloud's billing export (standard or detailed) as `cost_lines`: from BigQuery, or from files.

**Kinds.** `gcp_bigquery` fetches a usage day from the export table in BigQuery (path `bq://project.dataset.table`)
and lands it in raw as one page file plus a partition map; `gcp_billing_file` reads the same rows exported to files.
Both read with the same mapping (`_cost_line_select`); a file is read by its extension:

- `.jsonl[.gz]`: one export row per line as BigQuery writes JSON (`TO_JSON_STRING`, `bq extract
  --destination_format NEWLINE_DELIMITED_JSON`, `EXPORT DATA … format JSON`): nested records (`"service":
  {"id": …}`), repeated fields as arrays, timestamps as `2026-01-01T00:00:00Z` or `2026-01-01 00:00:00 UTC`.
  The pages `gcp_bigquery` lands are such files.
- `.parquet`: nested (records as STRUCT, repeated fields as LIST, as `EXPORT DATA … format PARQUET` writes them)
  or flattened with dotted column names.
- `.csv[.gz]`: flattened with dotted column names (`service.description`, `project.labels`), repeated fields as
  JSON or as the Python literals a pandas-made file holds (`[{'key': 'team', 'value': None}]`, Red Hat koku's
  samples). BigQuery itself cannot export repeated fields to CSV.

**Fetching by partition** (`fetch_gcp_bigquery`). The export table is partitioned by *export* day
(`_PARTITIONTIME`), not by usage day: the rows of one usage day arrive over several days, and late credits, taxes
and corrections arrive as new rows in later partitions. For usage day D the partitions D-1 … D+`lateness_days`
(default 5) can hold its rows; D-1 only in case an export's partition day is not its UTC day. Two queries:

1. the partition map: `DATE(_PARTITIONTIME), MAX(export_time), COUNT(*)` of day D's rows per partition;
2. day D's rows, with explicit columns, from the partitions of the map, only up to the map's newest
   `export_time` (an export landing between the two queries is left for the next fetch, so the page is exactly
   what the map describes, which the row count checks), ordered by `export_time` and then by content.

The page (`<table>-<day>.jsonl`) and the map (`<table>-<day>.partitions.json`) are deterministic: no fetch time,
stable order. This is koku's "reload a partition whose `MAX(export_time)` changed" at the grain staging works
in, a usage day: when no partition gained rows of day D, both files come back byte-identical, the
content-addressed raw landing keeps its one copy and staging the day again gives the same result; when a late
export added rows of day D to any partition, that partition's `MAX(export_time)` moved, the page differs (new
rows, hence a new raw file) and re-staging the day replaces its `cost_lines` with the export's current state.
There is no state to keep between runs, and nothing to merge: the day is always re-read whole, from every
partition that can hold it.

*Bytes scanned* (billed by BigQuery per query, 10 MB minimum each): query 1 reads `export_time` and
`usage_start_time` (16 bytes a row) of the `lateness_days + 2` partitions; query 2 reads the selected columns
of every row of the partitions between the first and the last one the map lists (partition pruning; the
`usage_start_time` filter does not prune, the export is not clustered), so a day costs about `lateness_days + 2`
export days of those columns, and a nightly run with a lookback of N days reads each partition ≈ (N + 1) ×
(`lateness_days` + 2) times. `maximum_bytes_billed` caps a query; a day without rows costs only query 1.

**Mapping.** `BilledCost` = `EffectiveCost` = `cost + Σ credits.amount` (credits are negative), computed once in
DECIMAL(38,10): each amount is BigQuery FLOAT64, read as text and rounded to 1e-10 (which also drops binary
noise such as `0.30000000000000004`). `ContractedCost` keeps the gross `cost` (negotiated price, before credits).
All credit types count, committed-use discounts included: Google already amortizes commitments in the export,
as the commitment fee appears as its own rows day by day over the term (SKU "Commitment v1: …") and the
COMMITTED_USAGE_DISCOUNT(_DOLLAR_BASE) credits appear on the usage they cover, so the net of the rows of a day is
that day's amortized cost, and there is no up-front purchase to spread. Promotional and free-tier credits are
spent as the usage they cover occurs, so they net on the same rows too. `ChargeCategory`, `ChargeClass` and
`ChargeFrequency` come from `cost_type` (`COST_TYPES`; another value is rejected), `PricingCategory` of usage from
its credits and SKU (`COMMITTED_CREDIT`, `DYNAMIC_SKU`), periods
from `usage_start_time`/`usage_end_time`, `InvoiceId` is `invoice.month` and the billing period is that month
in Pacific time (Google invoices by US Pacific months). `Tags` are the project's labels overlaid by the row's
own labels (the resource's label wins on a shared key; option `project_label_prefix` names project labels
`<prefix><key>` instead). `x_Provider` is `google` on every line; a model SKU (Gemini, Gemma, Imagen, Veo,
Claude, Llama on Vertex AI or the Gemini API) gets `x_Model` from its description (`MODEL_PATTERNS`) and its token
type as `SkuMeter` (`TOKEN_TYPES`), the full description staying in `ChargeDescription`. Cost categories are
left to the `cost_categories` rules of the allocation config.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
from pydantic import Field

from assets.ingest.base import Fetched, SourceKind
from assets.ingest.focus import FOCUS
from assets.ingest.options import KindOptions, options_as
from assets.ingest.readers import (
    column_text,
    create_view,
    declared_csv_records,
    file_format,
    json_pointer,
    json_records,
    jsonl_lines,
    parquet_records,
    project,
    quote_name,
    relation_columns,
    sql_string,
)
from assets.schemas import COST_LINES, MONEY

if TYPE_CHECKING:
    from google.cloud import bigquery

FIELDS: tuple[str, ...] = (
    "billing_account_id",
    "service.id",
    "service.description",
    "sku.id",
    "sku.description",
    "usage_start_time",
    "usage_end_time",
    "project.id",
    "project.name",
    "project.labels",
    "labels",
    "location.region",
    "location.zone",
    "cost",
    "cost_at_list",
    "currency",
    "usage.amount",
    "usage.unit",
    "usage.amount_in_pricing_units",
    "usage.pricing_unit",
    "credits",
    "invoice.month",
    "cost_type",
    "resource.name",
    "resource.global_name",
    "transaction_type",
    "seller_name",
)
"""The export fields mapped, as dotted paths. `resource.*` is in the detailed export only; `cost_at_list`,
`transaction_type` and `seller_name` only in newer tables: a missing field reads as null."""

REQUIRED_COLUMNS = ("billing_account_id", "usage_start_time", "usage_end_time", "export_time", "cost", "currency")
"""Top-level columns without which a table is not a billing export. A page also keeps `export_time`, which
the mapping does not use: it says which export each row came with."""


@dataclass(frozen=True)
class CostType:
    """What a `cost_type` is in FOCUS."""

    category: str
    charge_class: str | None
    frequency: str


COST_TYPES: dict[str, CostType] = {
    "regular": CostType("Usage", None, "Usage-Based"),
    "tax": CostType("Tax", None, "Recurring"),
    "adjustment": CostType("Adjustment", "Correction", "One-Time"),
    "rounding_error": CostType("Adjustment", None, "One-Time"),
}
"""`cost_type` → FOCUS ChargeCategory, ChargeClass, ChargeFrequency. Tax is levied on every invoice month's
charges (Recurring); an adjustment corrects charges already invoiced (Google: billing corrections, goodwill
credits), so it is a Correction; a rounding error is the invoice's own remainder. Another value is rejected."""

COMMITTED_CREDIT = r"^COMMITTED_USAGE_DISCOUNT"
"""Credit types of committed-use discounts (`COMMITTED_USAGE_DISCOUNT`, `…_DOLLAR_BASE`): a usage row carrying
one was priced by a commitment, PricingCategory `Committed`."""

DYNAMIC_SKU = r"(?i)\b(spot|preemptible)\b"
"""SKUs priced by the moment's spare capacity (Spot and Preemptible VMs): PricingCategory `Dynamic`."""

MODEL_PATTERNS: tuple[tuple[str, str], ...] = (
    (
        r"(?i)\b(gemini|gemma|imagen|veo)\s+\d+(\.\d+)*([\s-]+(pro|flash|lite|ultra|nano|fast|preview|\d+b))*\b",
        ".",
    ),
    (r"(?i)\bclaude\s+(\d+(\.\d+)?\s+(opus|sonnet|haiku)|(opus|sonnet|haiku)\s+\d+(\.\d+)?)(\s+v\d+)?\b", "-"),
    (r"(?i)\bllama\s+\d+(\.\d+)*([\s-]+(\d+b|maverick|scout|instruct|vision))*\b", "."),
)
"""(regex over the SKU description, what a `.` in the version becomes), first match wins. The match, lower-cased
with spaces as hyphens, is the model id as its vendor's API spells it: "Gemini 2.5 Flash Lite Input Text" →
`gemini-2.5-flash-lite`, "Claude 3.5 Sonnet v2 Output Tokens" → `claude-3-5-sonnet-v2`, "Claude Opus 4.1 …" →
`claude-opus-4-1`. A version is required, so subscriptions such as "Gemini Code Assist" are not models."""

TOKEN_TYPES: tuple[tuple[str, str], ...] = (
    ("Cache Storage", r"(?i)\bcach\w*\b.*\bstorage\b"),
    ("Cache Write", r"(?i)\bcach\w*\b.*\bwrites?\b"),
    ("Cached Input", r"(?i)\bcach(e|ed|ing)\b"),
    ("Output", r"(?i)\b(output|completion)s?\b"),
    ("Input", r"(?i)\b(input|prompt)s?\b"),
)
"""`SkuMeter` of a model SKU from its description, first match wins ("Gemini 2.5 Pro Text Input - Predictions"
and "Gemini 1.5 Flash Input Text" → Input; "… Context Caching Storage" → Cache Storage). Modality and batch stay
visible in `ChargeDescription`. A model SKU matching none keeps its description."""

PAGE_SUFFIX = ".jsonl"
MAP_SUFFIX = ".partitions.json"

CREDITS_UNREADABLE = "credits: not a list of credits with numeric amounts"
LABELS_UNREADABLE = "labels: not a list of {key, value}"
UNKNOWN_COST_TYPE = f"cost_type: not one of {', '.join(COST_TYPES)}"
_ERROR_COLUMN = {CREDITS_UNREADABLE: "BilledCost", LABELS_UNREADABLE: "Tags", UNKNOWN_COST_TYPE: "ChargeCategory"}
"""The cost-line column each of the reader's own rejects is about."""

_LABELS = json.dumps([{"key": "VARCHAR", "value": "VARCHAR"}])
_CREDITS = json.dumps([{"amount": "VARCHAR", "type": "VARCHAR"}])


class GcpOptions(KindOptions):
    """`options` of a `gcp_billing_file` source (and of a `gcp_bigquery` one, which adds the fetch options)."""

    project_label_prefix: str = ""


class GcpBigQueryOptions(GcpOptions):
    """`options` of a `gcp_bigquery` source: how its rows are fetched."""

    lateness_days: int = Field(default=5, ge=0, le=60)
    billing_project: str | None = None
    """Project that runs (and pays for) the queries; default the table's project."""
    maximum_bytes_billed: int | None = Field(default=None, gt=0)
    page_size: int = Field(default=50_000, gt=0)
    api_endpoint: str | None = None
    """Another BigQuery endpoint (tests, private service connect)."""


# --- reading ------------------------------------------------------------------------------------------------


def _alias(field: str) -> str:
    return quote_name("f:" + field)


def _nested_pointer(field: str) -> str:
    return "".join(json_pointer(part) for part in field.split("."))


def _jsonl_fields(path: Path) -> tuple[str, dict[str, str | None], str]:
    """A JSON Lines file's fields, by JSON pointer into each line's object; `_error` says why a line is none."""
    relation = json_records(jsonl_lines(path), [_nested_pointer(f) for f in FIELDS])
    return relation, {f: f"_v[{i}]" for i, f in enumerate(FIELDS, start=1)}, "_error"


def _table_fields(con: duckdb.DuckDBPyConnection, relation: str) -> tuple[str, dict[str, str | None], str]:
    """A CSV or Parquet file's fields: its dotted column (`service.id`, a flattened file), else the field of a
    STRUCT column (nested Parquet) lifted out under the dotted name."""
    types = relation_columns(con, relation)
    lifted = []
    for field in FIELDS:
        head, _, rest = field.partition(".")
        nested = duckdb.sqltype(types[head]) if field not in types and head in types else None
        if nested is not None and nested.id == "struct" and rest in dict(nested.children):
            lifted.append(f"{quote_name(head)}.{quote_name(rest)} as {quote_name(field)}")
    if lifted:
        relation = f"(select *, {', '.join(lifted)} from {relation})"
    present = relation_columns(con, relation)
    return relation, {f: column_text(f, present[f]) if f in present else None for f in FIELDS}, "null"


def _list(expr: str, shape: str) -> str:
    """SQL parsing a repeated field written as JSON, or as a Python literal (single quotes, `None`) as pandas-made
    CSVs hold it; null when it is neither. Quotes are swapped only next to `[{,:]`, so an apostrophe inside a
    value is kept."""
    literal = (
        f"regexp_replace(regexp_replace(regexp_replace({expr}, '([\\[{{,:]\\s*)''', '\\1\"', 'g'), "
        f"'''(\\s*[\\]}},:])', '\"\\1', 'g'), ':\\s*None\\b', ': null', 'g')"
    )
    return f"coalesce(try(from_json({expr}, {sql_string(shape)})), try(from_json({literal}, {sql_string(shape)})))"


def _utc(expr: str) -> str:
    """BigQuery's JSON export writes timestamps as `2026-01-01 00:00:00 UTC`: make the zone one DuckDB reads."""
    return f"regexp_replace({expr}, '\\s*UTC$', 'Z')"


def _pacific_month(month: str, offset: int) -> str:
    """SQL for the start of invoice month `month` (`YYYYMM`) plus `offset` months, midnight US Pacific, as text
    with its UTC offset; text that is no month is kept for the validator to reject."""
    start = f"try_strptime({month}, '%Y%m') + interval {offset} month"
    return f"coalesce(timezone('America/Los_Angeles', {start})::varchar, {month})"


def _model(description: str) -> str:
    """SQL for the model id of a SKU description, or null. One regex rules out most SKUs (compute, storage,
    network) before the patterns are tried one by one."""
    names = []
    for pattern, dot in MODEL_PATTERNS:
        name = f"lower(regexp_replace(trim(regexp_extract({description}, {sql_string(pattern)}, 0)), '\\s+', '-', 'g'))"
        if dot != ".":
            name = f"replace({name}, '.', {sql_string(dot)})"
        names.append(f"nullif({name}, '')")
    any_model = "(?i)" + "|".join(f"(?:{p.removeprefix('(?i)')})" for p, _ in MODEL_PATTERNS)
    return f"case when regexp_matches({description}, {sql_string(any_model)}) then coalesce({', '.join(names)}) end"


def _token_type(description: str) -> str:
    whens = " ".join(
        f"when regexp_matches({description}, {sql_string(p)}) then {sql_string(t)}" for t, p in TOKEN_TYPES
    )
    return f"case {whens} end"


def _export_rows(relation: str, fields: Mapping[str, str | None], error: str, options: GcpOptions) -> str:
    """A relation of one file's export rows: `_row`, `_reader_error`, each field as text (named by `_alias`) and
    what the mapping derives from them, each computed once (a SQL expression repeated in a projection is
    evaluated each time): `_cost` and `_credit_total` (DECIMAL; `_cost` null when not a number), `_bad_credits`,
    `_tags` (JSON object text), `_bad_labels`, `_model`, `_start`/`_end` and `_period_start`/`_period_end`."""
    f = {name: _alias(name) for name in FIELDS}
    texts = ", ".join(f"({fields.get(name) or 'null'})::varchar as {f[name]}" for name in FIELDS)
    parsed = (
        f"select *, {_list(f['credits'], _CREDITS)} as _credits, {_list(f['labels'], _LABELS)} as _labels, "
        f"{_list(f['project.labels'], _LABELS)} as _project_labels, "
        f"try_cast({f['cost']} as {MONEY}) as _cost, {_model(f['sku.description'])} as _model, "
        f"{_utc(f['usage_start_time'])} as _start, {_utc(f['usage_end_time'])} as _end, "
        f"{_pacific_month(f['invoice.month'], 0)} as _period_start, "
        f"{_pacific_month(f['invoice.month'], 1)} as _period_end "
        f"from (select _row, ({error})::varchar as _reader_error, {texts} from {relation})"
    )
    project_labels = "coalesce(_project_labels, [])"
    if options.project_label_prefix:
        prefix = sql_string(options.project_label_prefix)
        project_labels = (
            f"list_transform({project_labels}, lambda p: struct_pack(key := {prefix} || p.key, value := p.value))"
        )
    listed = (
        f"select *, list_transform(_credits, lambda c: try_cast(c.amount as {MONEY})) as _amounts, "
        "list_transform(coalesce(_labels, []), lambda l: l.key) as _label_keys, "
        f"{project_labels} as _project_entries from ({parsed})"
    )
    # Tags are written as JSON text rather than through a MAP (much cheaper); a row's own label wins over its
    # project's on a shared key, and duplicate keys within one list leave an object the validator rejects
    kept = "list_filter(_project_entries, lambda p: not list_contains(_label_keys, p.key))"
    pairs = (
        f"list_transform(list_concat({kept}, coalesce(_labels, [])), "
        "lambda e: coalesce(to_json(e.key)::varchar, 'null') || ':' || coalesce(to_json(e.value)::varchar, 'null'))"
    )
    bad_amount = "coalesce(list_bool_or(list_transform(_amounts, lambda c: c is null)), false)"
    return (
        "select *, coalesce(list_sum(_amounts), 0) as _credit_total, "
        f"{f['credits']} is not null and (_credits is null or {bad_amount}) as _bad_credits, "
        f"'{{' || array_to_string({pairs}, ',') || '}}' as _tags, "
        f"({f['labels']} is not null and _labels is null) "
        f"or ({f['project.labels']} is not null and _project_labels is null) as _bad_labels from ({listed})"
    )


def _cost_line_select(
    path: Path, relation: str, fields: Mapping[str, str | None], error: str, options: GcpOptions
) -> str:
    """The `project` SELECT of one file's export rows as cost lines, from text expressions per export field.
    Duplicate label keys leave `Tags` an object the validator rejects."""
    a = {f: _alias(f) for f in FIELDS}
    cost_type = f"lower(trim({a['cost_type']}))"

    def by_cost_type(value: Callable[[CostType], str | None]) -> str:
        whens = " ".join(
            f"when {sql_string(k)} then {sql_string(v) if (v := value(t)) else 'null'}" for k, t in COST_TYPES.items()
        )
        return f"case {cost_type} {whens} end"

    committed = (
        f"list_bool_or(list_transform(_credits, lambda c: regexp_matches(c.type, {sql_string(COMMITTED_CREDIT)})))"
    )
    pricing = (
        f"case when {cost_type} = 'regular' then case when coalesce({committed}, false) then 'Committed' "
        f"when regexp_matches({a['sku.description']}, {sql_string(DYNAMIC_SKU)}) then 'Dynamic' else 'Standard' end end"
    )
    reasons = (
        f"case when _reader_error is not null then _reader_error "
        f"when _bad_credits then {sql_string(CREDITS_UNREADABLE)} "
        f"when _bad_labels then {sql_string(LABELS_UNREADABLE)} "
        f"when {cost_type} not in ({', '.join(sql_string(k) for k in COST_TYPES)}) "
        f"then {sql_string(UNKNOWN_COST_TYPE)} end"
    )
    net = f"case when _cost is null then {a['cost']} else (_cost + _credit_total)::varchar end"
    third_party = f"{a['transaction_type']} like 'THIRD_PARTY%' and nullif(trim({a['seller_name']}), '') is not null"
    exprs: dict[str, str | None] = {
        "BilledCost": net,
        "EffectiveCost": net,
        "ListCost": a["cost_at_list"],
        "ContractedCost": a["cost"],
        "BillingCurrency": a["currency"],
        "BillingAccountId": a["billing_account_id"],
        "SubAccountId": a["project.id"],
        "SubAccountName": a["project.name"],
        "BillingAccountType": f"case when {a['billing_account_id']} is not null then 'Billing Account' end",
        "SubAccountType": f"case when {a['project.id']} is not null then 'Project' end",
        "BillingPeriodStart": "_period_start",
        "BillingPeriodEnd": "_period_end",
        "ChargePeriodStart": "_start",
        "ChargePeriodEnd": "_end",
        "ChargeCategory": by_cost_type(lambda t: t.category),
        "ChargeClass": by_cost_type(lambda t: t.charge_class),
        "ChargeFrequency": by_cost_type(lambda t: t.frequency),
        "PricingCategory": pricing,
        "ChargeDescription": a["sku.description"],
        "InvoiceIssuerName": "'Google Cloud'",
        "ServiceProviderName": f"case when {third_party} then trim({a['seller_name']}) else 'Google Cloud' end",
        "HostProviderName": "'Google Cloud'",
        "ServiceName": a["service.description"],
        "ResourceId": a["resource.global_name"],
        "ResourceName": a["resource.name"],
        "RegionId": a["location.region"],
        "AvailabilityZone": a["location.zone"],
        "SkuId": a["sku.id"],
        "SkuMeter": (
            f"case when _model is not null then coalesce({_token_type(a['sku.description'])}, "
            f"{a['sku.description']}) else {a['sku.description']} end"
        ),
        "PricingQuantity": a["usage.amount_in_pricing_units"],
        "PricingUnit": a["usage.pricing_unit"],
        "ConsumedQuantity": a["usage.amount"],
        "ConsumedUnit": a["usage.unit"],
        "InvoiceId": a["invoice.month"],
        "Tags": "_tags",
        "x_Provider": "'google'",
        "x_Model": "_model",
    }
    selected = project(path, f"({_export_rows(relation, fields, error, options)})", COST_LINES, exprs, error=reasons)
    columns = " ".join(f"when {sql_string(r)} then {sql_string(c)}" for r, c in _ERROR_COLUMN.items())
    return f"select * replace (coalesce(_error_column, case _error {columns} end) as _error_column) from ({selected})"


def _select(con: duckdb.DuckDBPyConnection, path: Path, options: GcpOptions) -> str:
    fmt = file_format(path)
    if fmt == "jsonl":
        return _cost_line_select(path, *_jsonl_fields(path), options)
    table = declared_csv_records(path) if fmt == "csv" else parquet_records(path)
    return _cost_line_select(path, *_table_fields(con, table), options)


def read_gcp_billing(con: duckdb.DuckDBPyConnection, files: list[Path], view: str, options: Mapping[str, Any]) -> None:
    """Files may mix formats (JSON Lines, Parquet, CSV); each is mapped on its own columns."""
    _read(con, files, view, options_as(GcpOptions, options))


def _read(con: duckdb.DuckDBPyConnection, files: list[Path], view: str, options: GcpOptions) -> None:
    create_view(con, view, COST_LINES, [_select(con, path, options) for path in files])


def read_gcp_bigquery(con: duckdb.DuckDBPyConnection, files: list[Path], view: str, options: Mapping[str, Any]) -> None:
    """The landed pages; the partition maps beside them are provenance, not rows."""
    _read(con, [f for f in files if not f.name.endswith(MAP_SUFFIX)], view, options_as(GcpBigQueryOptions, options))


# --- fetching -----------------------------------------------------------------------------------------------

_TABLE_PATH = re.compile(r"^bq://(?P<project>[a-z0-9][a-z0-9.:-]*)\.(?P<dataset>\w+)\.(?P<table>[\w-]+)$")
"""`bq://project.dataset.table`. A project id may hold a domain (`example.com:billing`), so dataset and table are
the last two parts. Validated because the name enters the SQL as an identifier (no parameter can stand for it)."""

PARTITIONS_SQL = """
select date(_PARTITIONTIME) as partition_date, max(export_time) as last_export, count(*) as row_count
from `{table}`
where _PARTITIONTIME between timestamp(@first_partition) and timestamp(@last_partition)
  and usage_start_time >= timestamp(@usage_day)
  and usage_start_time < timestamp_add(timestamp(@usage_day), interval 1 day)
group by partition_date
order by partition_date
"""
"""Per partition that can hold rows of the usage day: the newest export of such rows and how many there are."""

ROWS_SQL = """
select to_json_string(struct({columns})) as row
from `{table}`
where _PARTITIONTIME between timestamp(@first_partition) and timestamp(@last_partition)
  and usage_start_time >= timestamp(@usage_day)
  and usage_start_time < timestamp_add(timestamp(@usage_day), interval 1 day)
  and export_time <= @last_export
order by export_time, row
"""
"""The usage day's rows as BigQuery's own JSON of the selected columns (FLOAT64 as written by BigQuery, no client
conversion), up to the newest export the partition map saw."""


@dataclass(frozen=True)
class ExportTable:
    project: str
    dataset: str
    table: str

    @classmethod
    def parse(cls, path: str) -> ExportTable:
        match = _TABLE_PATH.match(path)
        if match is None:
            raise ValueError(f"{path!r}: expected bq://project.dataset.table")
        return cls(**match.groupdict())

    @property
    def name(self) -> str:
        return f"{self.project}.{self.dataset}.{self.table}"


def _selected_columns(schema: list[bigquery.SchemaField], table: ExportTable) -> list[str]:
    """The top-level columns of `FIELDS` and `REQUIRED_COLUMNS` the table has; fails if it is no billing export."""
    names = {f.name for f in schema}
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise ValueError(f"bq://{table.name}: not a billing export table, it lacks {', '.join(missing)}")
    heads = dict.fromkeys([*(f.partition(".")[0] for f in FIELDS), *REQUIRED_COLUMNS])
    return [c for c in heads if c in names]


def _job_config(source: Any, options: GcpBigQueryOptions, **params: Any) -> bigquery.QueryJobConfig:
    from google.cloud import bigquery

    kinds = {date: "DATE", datetime: "TIMESTAMP"}
    config = bigquery.QueryJobConfig(
        query_parameters=[bigquery.ScalarQueryParameter(k, kinds[type(v)], v) for k, v in params.items()],
        labels={"apportion_source": source.name},
    )
    if options.maximum_bytes_billed is not None:  # the SDK would send None as the string "None"
        config.maximum_bytes_billed = options.maximum_bytes_billed
    return config


def fetch_gcp_bigquery(source: Any, day: date, workdir: Path) -> list[Fetched]:
    """The usage day's export rows as a page file and the partition map it was read at (see the module
    docstring); nothing when no partition holds rows of the day. Credentials: google-auth's default chain."""
    table = ExportTable.parse(source.path)
    from google.api_core.client_options import ClientOptions
    from google.cloud import bigquery

    options = options_as(GcpBigQueryOptions, source.options)
    client_options = ClientOptions(api_endpoint=options.api_endpoint) if options.api_endpoint else None
    client = bigquery.Client(project=options.billing_project or table.project, client_options=client_options)
    with closing(client):
        columns = _selected_columns(client.get_table(table.name).schema, table)
        window = {
            "first_partition": day - timedelta(days=1),
            "last_partition": day + timedelta(days=options.lateness_days),
            "usage_day": day,
        }
        partitions = list(
            client.query_and_wait(
                PARTITIONS_SQL.format(table=table.name), job_config=_job_config(source, options, **window)
            )
        )
        if not partitions:
            return []
        last_export = max(p["last_export"] for p in partitions)
        params = {
            "first_partition": partitions[0]["partition_date"],
            "last_partition": partitions[-1]["partition_date"],
            "usage_day": day,
            "last_export": last_export,
        }
        rows = client.query_and_wait(
            ROWS_SQL.format(table=table.name, columns=", ".join(columns)),
            job_config=_job_config(source, options, **params),
            page_size=options.page_size,
        )
        stem = f"{table.table}-{day.isoformat()}"
        page = workdir / f"{stem}{PAGE_SUFFIX}"
        written = 0
        with page.open("w", encoding="utf-8", newline="\n") as out:
            for batch in rows.pages:  # the SDK yields one Row object per row; write each page's lines at once
                lines = [row[0] for row in batch]
                out.write("".join(line + "\n" for line in lines))
                written += len(lines)
    expected = sum(p["row_count"] for p in partitions)
    if written != expected:
        raise RuntimeError(
            f"bq://{table.name} usage day {day}: {written} rows read but the partition map counted {expected}; "
            "the export changed during the fetch, fetch again"
        )
    partition_map = workdir / f"{stem}{MAP_SUFFIX}"
    partition_map.write_text(
        json.dumps(
            {
                "table": table.name,
                "usage_day": day.isoformat(),
                "columns": columns,
                "partitions": [
                    {
                        "partition_date": p["partition_date"].isoformat(),
                        "last_export": p["last_export"].astimezone(UTC).isoformat(),
                        "rows": p["row_count"],
                    }
                    for p in partitions
                ],
            },
            indent=1,
            sort_keys=True,
        )
        + "\n",
        encoding="utf-8",
    )
    origin = f"bq://{table.name}?usage_day={day.isoformat()}"
    return [
        Fetched(page, origin, last_export),
        Fetched(partition_map, f"{origin}&partitions", last_export),
    ]


def _file_expects(source: Any) -> str:
    return (
        "billing export rows as files at that path (a file, a folder of them or a glob, `{date}` standing for the "
        "day as YYYY-MM-DD): .jsonl[.gz] or .parquet as BigQuery exports them, or .csv[.gz] with dotted column "
        "names (service.description, usage_start_time, cost, credits, …)"
    )


def _bigquery_expects(source: Any) -> str:
    lateness = options_as(GcpBigQueryOptions, source.options).lateness_days
    return (
        f"rows of the usage day in the export partitions from the day before to {lateness} day(s) after it "
        "(options.lateness_days); a day Google has not exported yet has none"
    )


GCP_BILLING_FILE = SourceKind(
    "gcp_billing_file", "cost_lines", read_gcp_billing, FOCUS.checks, expects=_file_expects, options_model=GcpOptions
)
GCP_BIGQUERY = SourceKind(
    "gcp_bigquery",
    "cost_lines",
    read_gcp_bigquery,
    FOCUS.checks,
    fetch=fetch_gcp_bigquery,
    expects=_bigquery_expects,
    options_model=GcpBigQueryOptions,
)
