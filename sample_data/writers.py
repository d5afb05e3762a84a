"""File writers: canonical usage (JSON Lines or Parquet parts), OTLP JSON spans, FOCUS CSV."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import BinaryIO

import numpy as np
import polars as pl

from sample_data import universe as u

OTLP_BATCH = 500
"""Spans per `ExportTraceServiceRequest` line, like a collector's batch processor."""
OTLP_SCOPE = "opentelemetry.instrumentation.genai"

FOCUS_COLUMNS = (
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ContractedCost",
    "BillingCurrency",
    "BillingAccountId",
    "BillingAccountName",
    "SubAccountId",
    "SubAccountName",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "InvoiceIssuerName",
    "ServiceProviderName",
    "HostProviderName",
    "ServiceCategory",
    "ServiceSubcategory",
    "ServiceName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "RegionId",
    "SkuId",
    "SkuMeter",
    "PricingQuantity",
    "PricingUnit",
    "ConsumedQuantity",
    "ConsumedUnit",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountCategory",
    "CommitmentDiscountType",
    "CommitmentDiscountStatus",
    "CapacityReservationId",
    "CapacityReservationStatus",
    "InvoiceId",
    "Tags",
    "AllocatedMethodId",
    "AllocatedMethodDetails",
    "AllocatedResourceId",
    "AllocatedResourceName",
    "AllocatedTags",
    "x_Provider",
    "x_Model",
    "x_ApiKeyId",
)


def write_usage_jsonl(frame: pl.DataFrame, out: BinaryIO) -> None:
    """Append one JSON object per call; `event_time` as ISO-8601 UTC with milliseconds and `Z`."""
    frame.with_columns(pl.col("event_time").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")).write_ndjson(out)


def write_usage_parquet(frame: pl.DataFrame, path: Path) -> None:
    frame.write_parquet(path, compression="zstd", statistics=True)


def _cat(*parts: str | pl.Expr) -> pl.Expr:
    return pl.concat_str([pl.lit(p) if isinstance(p, str) else p for p in parts])


def _string_attr(key: str, value: pl.Expr) -> pl.Expr:
    """A string attribute, or null (left out) when the value is null."""
    return _cat(f'{{"key":"{key}","value":{{"stringValue":"', value, '"}}')


def _int_attr(key: str, value: pl.Expr) -> pl.Expr:
    """An int attribute: intValue as a JSON string or a number, as the batch's exporter does it."""
    quote = pl.when(pl.col("_int_as_string")).then(pl.lit('"')).otherwise(pl.lit(""))
    return _cat(f'{{"key":"{key}","value":{{"intValue":', quote, value.cast(pl.String), quote, "}}")


def otlp_lines(frame: pl.DataFrame, rng: np.random.Generator) -> pl.Series:
    """One `ExportTraceServiceRequest` JSON document per batch of `OTLP_BATCH` usage events.

    About half of the batches name the provider with the deprecated `gen_ai.system` and, independently, about
    half write `intValue` as a string: both happen in real exports (older and newer instrumentations).
    """
    n_batches = -(-frame.height // OTLP_BATCH)
    old_system = rng.random(n_batches) < 0.5
    int_as_string = rng.random(n_batches) < 0.5
    batch = np.arange(frame.height) // OTLP_BATCH
    start_ns = pl.col("event_time").dt.epoch("ns")
    end_ns = start_ns + (pl.col("latency_ms") * 1_000_000).round().cast(pl.Int64)
    provider_key = (
        pl.when(pl.col("_old_system")).then(pl.lit("gen_ai.system")).otherwise(pl.lit("gen_ai.provider.name"))
    )
    attributes = pl.concat_str(
        [
            _string_attr("gen_ai.operation.name", pl.col("operation")),
            _cat('{"key":"', provider_key, '","value":{"stringValue":"', pl.col("provider"), '"}}'),
            _string_attr("gen_ai.request.model", pl.col("model")),
            _string_attr("gen_ai.response.model", pl.col("model")),
            _int_attr("gen_ai.usage.input_tokens", pl.col("input_tokens")),
            _int_attr("gen_ai.usage.output_tokens", pl.col("output_tokens")),
            _int_attr("gen_ai.usage.cache_read.input_tokens", pl.col("cache_read_tokens")),
            _int_attr("gen_ai.usage.cache_creation.input_tokens", pl.col("cache_write_tokens")),
            _int_attr("gen_ai.usage.reasoning.output_tokens", pl.col("reasoning_tokens")),
            _string_attr("gen_ai.agent.name", pl.col("agent")),
            _string_attr("gen_ai.workflow.name", pl.col("workflow")),
            _string_attr("gen_ai.response.id", pl.col("request_id")),
            _string_attr("error.type", pl.col("error_type")),
            _string_attr("app.team", pl.col("team")),
            _string_attr("app.feature", pl.col("feature")),
            _string_attr("app.customer_id", pl.col("customer")),
            _string_attr("app.api_key_id", pl.col("api_key_id")),
            _string_attr("app.prompt_hash", pl.col("prompt_hash")),
            _int_attr("app.attempt", pl.col("attempt")),
        ],
        separator=",",
        ignore_nulls=True,
    )
    name = pl.concat_str([pl.col("operation"), pl.col("model")], separator=" ", ignore_nulls=True)
    status = (
        pl.when(pl.col("status") == "error")
        .then(_cat('{"code":2,"message":"', pl.col("error_type").replace_strict(u.ERROR_MESSAGES), '"}'))
        .otherwise(pl.lit('{"code":1}'))
    )
    parent = (
        pl.when(pl.col("parent_span_id").is_null())
        .then(pl.lit(""))
        .otherwise(_cat('"parentSpanId":"', pl.col("parent_span_id"), '",'))
    )
    span = _cat(
        '{"traceId":"', pl.col("trace_id"), '","spanId":"', pl.col("span_id"), '",', parent,
        '"name":"', name, '","kind":3,"startTimeUnixNano":"', start_ns.cast(pl.String),
        '","endTimeUnixNano":"', end_ns.cast(pl.String), '","attributes":[', attributes,
        '],"status":', status, "}",
    )  # fmt: skip
    envelope = (
        '{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"'
        + u.OTLP_SERVICE
        + '"}}]},"scopeSpans":[{"scope":{"name":"'
        + OTLP_SCOPE
        + '"},"spans":['
    )
    return (
        frame.with_columns(_batch=batch, _old_system=old_system[batch], _int_as_string=int_as_string[batch])
        .select(pl.col("_batch"), span.alias("span"))
        .group_by("_batch", maintain_order=True)
        .agg(pl.col("span").str.join(","))
        .select(_cat(envelope, pl.col("span"), "]}]}]}"))
        .to_series()
    )


def write_lines(lines: pl.Series, out: BinaryIO) -> None:
    for line in lines:  # one per batch of spans
        out.write(line.encode())
        out.write(b"\n")


def write_focus_csv(rows: Iterable[Mapping[str, str]], path: Path) -> None:
    """Write FOCUS rows; values are already text and missing columns stay empty."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=FOCUS_COLUMNS, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
