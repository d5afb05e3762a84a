"""The staging schemas every source kind produces, and the quarantine schema for what it rejects.

Each schema is an ordered list of `Column`s with a DuckDB type. Source modules hand the validator rows whose
values are still text (`VARCHAR`); the validator casts each column to its type and rejects a row, naming the
column, when a value does not cast or a required value is missing (see `assets.ingest.validate`).
"""

from __future__ import annotations

from dataclasses import dataclass

MONEY = "DECIMAL(38,10)"
"""Every amount of money, end to end. Ten decimals keep vendor prices per token exact; 28 integer digits."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool = False


def column_names(schema: list[Column]) -> list[str]:
    return [c.name for c in schema]


# FOCUS 1.3/1.4 names so native FOCUS exports load without a mapping; project columns carry the x_ prefix.
COST_LINES: list[Column] = [
    Column("BilledCost", MONEY, required=True),
    Column("EffectiveCost", MONEY, required=True),
    Column("ListCost", MONEY),
    Column("ContractedCost", MONEY),
    Column("BillingCurrency", "VARCHAR", required=True),
    Column("BillingAccountId", "VARCHAR"),
    Column("BillingAccountName", "VARCHAR"),
    Column("SubAccountId", "VARCHAR"),
    Column("SubAccountName", "VARCHAR"),
    Column("BillingPeriodStart", "TIMESTAMPTZ"),
    Column("BillingPeriodEnd", "TIMESTAMPTZ"),
    Column("ChargePeriodStart", "TIMESTAMPTZ", required=True),
    Column("ChargePeriodEnd", "TIMESTAMPTZ", required=True),
    Column("ChargeCategory", "VARCHAR", required=True),
    Column("ChargeClass", "VARCHAR"),
    Column("ChargeDescription", "VARCHAR"),
    Column("ChargeFrequency", "VARCHAR"),
    Column("InvoiceIssuerName", "VARCHAR"),
    Column("ServiceProviderName", "VARCHAR"),
    Column("HostProviderName", "VARCHAR"),
    Column("ServiceCategory", "VARCHAR"),
    Column("ServiceSubcategory", "VARCHAR"),
    Column("ServiceName", "VARCHAR"),
    Column("ResourceId", "VARCHAR"),
    Column("ResourceName", "VARCHAR"),
    Column("ResourceType", "VARCHAR"),
    Column("RegionId", "VARCHAR"),
    Column("SkuId", "VARCHAR"),
    Column("SkuMeter", "VARCHAR"),
    Column("PricingQuantity", "DECIMAL(38,10)"),
    Column("PricingUnit", "VARCHAR"),
    Column("ConsumedQuantity", "DECIMAL(38,10)"),
    Column("ConsumedUnit", "VARCHAR"),
    Column("CommitmentDiscountId", "VARCHAR"),
    Column("CommitmentDiscountStatus", "VARCHAR"),
    Column("CapacityReservationId", "VARCHAR"),
    Column("CapacityReservationStatus", "VARCHAR"),
    Column("InvoiceId", "VARCHAR"),
    Column("Tags", "MAP(VARCHAR, VARCHAR)"),
    # project extensions
    Column("x_CostCategory", "VARCHAR"),
    Column("x_Provider", "VARCHAR"),
    Column("x_Model", "VARCHAR"),
    Column("x_ApiKeyId", "VARCHAR"),
    Column("x_OriginalCurrency", "VARCHAR"),
    Column("x_FxRate", "DECIMAL(38,10)"),
]

USAGE_EVENTS: list[Column] = [
    Column("event_time", "TIMESTAMPTZ", required=True),
    Column("request_id", "VARCHAR"),
    Column("trace_id", "VARCHAR"),
    Column("span_id", "VARCHAR"),
    Column("parent_span_id", "VARCHAR"),
    Column("provider", "VARCHAR"),
    Column("model", "VARCHAR"),
    Column("operation", "VARCHAR"),
    Column("service_tier", "VARCHAR"),
    Column("input_tokens", "BIGINT"),
    Column("cache_read_tokens", "BIGINT"),
    Column("cache_write_tokens", "BIGINT"),
    Column("cache_write_1h_tokens", "BIGINT"),
    Column("output_tokens", "BIGINT"),
    Column("reasoning_tokens", "BIGINT"),
    Column("request_count", "BIGINT"),
    Column("status", "VARCHAR"),
    Column("error_type", "VARCHAR"),
    Column("attempt", "INTEGER"),
    Column("api_key_id", "VARCHAR"),
    Column("team", "VARCHAR"),
    Column("feature", "VARCHAR"),
    Column("customer", "VARCHAR"),
    Column("agent", "VARCHAR"),
    Column("workflow", "VARCHAR"),
    Column("prompt_hash", "VARCHAR"),
    Column("prompt_simhash", "UBIGINT"),
    Column("latency_ms", "DOUBLE"),
    Column("model_ref", "VARCHAR"),
    Column("web_search_requests", "BIGINT"),
    Column("usage_flag", "VARCHAR"),
]
"""One row per model call (or per vector query, tool call…). Token semantics, whatever the source:
`input_tokens` is the total input including cache reads and writes; `cache_read_tokens`, `cache_write_tokens`
(all TTLs) and `cache_write_1h_tokens` (the 1-hour part of the writes) are parts of it; `reasoning_tokens` is
part of `output_tokens`. `attempt` is 1 for a first try. Prompt text never appears: only `prompt_hash`.
`provider` may be left out by a source: staging infers it from the model (`assets.ingest.records.resolve_model`),
and `model_ref` keeps the model as written where the catalog knows it by another name (a Vertex resource path).
`web_search_requests` counts server-side web searches, billed per search. `usage_flag` is set by staging:
`usage_missing` for a successful call that reported no tokens, `usage_partial` for one that reported input but no
output (or output but no input): such a call is never priced as if it were free."""

USAGE_METRICS: list[Column] = [
    Column("metric_time", "TIMESTAMPTZ", required=True),
    Column("metric", "VARCHAR", required=True),
    Column("quantity", "DECIMAL(38,10)", required=True),
    Column("unit", "VARCHAR"),
    Column("provider", "VARCHAR"),
    Column("resource_id", "VARCHAR"),
    Column("team", "VARCHAR"),
    Column("feature", "VARCHAR"),
    Column("customer", "VARCHAR"),
    Column("agent", "VARCHAR"),
    Column("workflow", "VARCHAR"),
]
"""Generic allocation drivers that are not model calls: vector queries, GPU-seconds, bytes out, review minutes."""

QUARANTINE: list[Column] = [
    Column("charge_date", "DATE"),
    Column("source", "VARCHAR"),
    Column("source_file", "VARCHAR"),
    Column("source_row", "BIGINT"),
    Column("column_name", "VARCHAR"),
    Column("reason", "VARCHAR"),
    Column("raw_value", "VARCHAR"),
]

DIMENSIONS = ("team", "feature", "customer", "agent", "workflow")
"""The attribution dimensions of the fact table, in order."""

UNALLOCATED = "unallocated"


def typed_columns(schema: list[Column], *extra: tuple[str, str]) -> list[tuple[str, str]]:
    """(name, type) pairs of a schema plus extra columns, for typed empty views."""
    return [(c.name, c.type) for c in schema] + list(extra)


LINEAGE_COLUMNS = (("x_Source", "VARCHAR"), ("x_SourceFile", "VARCHAR"), ("x_SourceRow", "BIGINT"))
STAGED_COST_LINES = typed_columns(COST_LINES, *LINEAGE_COLUMNS, ("x_LineId", "VARCHAR"), ("x_SpreadMethod", "VARCHAR"))
STAGED_USAGE_EVENTS = typed_columns(USAGE_EVENTS, *LINEAGE_COLUMNS)
STAGED_USAGE_METRICS = typed_columns(USAGE_METRICS, *LINEAGE_COLUMNS)
STAGED_QUARANTINE = typed_columns(QUARANTINE)
PRICED_USAGE = typed_columns(
    USAGE_EVENTS, *LINEAGE_COLUMNS, ("list_cost", MONEY), ("catalog_model", "VARCHAR"), ("price_source", "VARCHAR")
)
