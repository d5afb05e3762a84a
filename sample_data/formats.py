"""The other formats of the sample data: usage logs (LiteLLM SpendLogs, Langfuse observations, Bedrock invocation
logs), vendor cost and usage reports as Admin API pages (OpenAI costs and usage, Anthropic cost_report and messages
usage report) and monthly invoice lines.

Usage writers take a frame of calls (`assets.schemas.USAGE_EVENTS` columns) and build every record with polars
expressions; cost writers take the few dozen FOCUS rows of `bills.vendor_rows`.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO

import polars as pl

from sample_data import universe as u

BEDROCK_ACCOUNT = u.SUB_ACCOUNTS["ml-prod"]
BEDROCK_FOLDER = f"bedrock_logs/AWSLogs/{BEDROCK_ACCOUNT}/BedrockModelInvocationLogs/{u.REGION}"
PAGE_SIZE = 40
VENDOR_PROJECT = "proj_prod"
VENDOR_WORKSPACE = "wrkspc_prod"
"""Results per saved API page: a day of vendor costs spans a few pages, as the APIs page them."""
OPENAI_COMPONENTS = {"uncached_input": "input", "cache_read": "cached input", "output": "output"}
ANTHROPIC_TOKEN_TYPES = {
    "uncached_input": "uncached_input_tokens",
    "cache_read": "cache_read_input_tokens",
    "cache_write_5m": "cache_creation.ephemeral_5m_input_tokens",
    "cache_write_1h": "cache_creation.ephemeral_1h_input_tokens",
    "output": "output_tokens",
}
ISO_MS = "%Y-%m-%dT%H:%M:%S%.3fZ"
INVOICE_COLUMNS = ("vendor", "invoice_id", "period_start", "period_end", "description", "amount", "currency")
INVOICE_COLUMNS += ("quantity", "unit", "category", "provider")


def route(frame: pl.DataFrame) -> pl.Series:
    """The format each call is logged in: the OTLP agent's calls as spans, vector queries in the canonical
    file, Bedrock calls in invocation logs, the sales agent through LiteLLM, the research agent in Langfuse."""
    return frame.select(
        pl.when(pl.col("agent").eq_missing(u.OTLP_AGENT))
        .then(pl.lit("otlp"))
        .when(pl.col("operation") == "vector_query")
        .then(pl.lit("usage"))
        .when(pl.col("provider") == "aws")
        .then(pl.lit("bedrock"))
        .when(pl.col("agent").eq_missing("sales_agent"))
        .then(pl.lit("litellm"))
        .when(pl.col("agent").eq_missing("research_agent"))
        .then(pl.lit("langfuse"))
        .otherwise(pl.lit("usage"))
    ).to_series()


def _iso(column: str) -> pl.Expr:
    return pl.col(column).dt.strftime(ISO_MS)


_END_TIME = pl.col("event_time") + pl.duration(microseconds=(pl.col("latency_ms") * 1000).round().cast(pl.Int64))
_TRACE = {c: pl.col(c) for c in ("trace_id", "span_id", "parent_span_id", "prompt_hash")}
_RETRY_ATTEMPT = pl.when(pl.col("attempt") > 1).then(pl.col("attempt")).alias("attempt")
"""The try number an application passes in a log's own metadata (Langfuse, Bedrock log none): set on retries."""


def write_litellm_csv(frame: pl.DataFrame, out: BinaryIO, header: bool) -> None:
    """`LiteLLM_SpendLogs` rows as CSV: `metadata` as JSON text with the cache parts in `usage_object`, the caller's
    dimensions in `spend_logs_metadata` and retries in `attempted_retries`."""
    metadata = pl.struct(
        usage_object=pl.struct(
            prompt_tokens_details=pl.struct(
                cached_tokens=pl.col("cache_read_tokens"),
                cache_creation_token_details=pl.struct(ephemeral_1h_input_tokens=pl.col("cache_write_1h_tokens")),
            ),
            cache_creation_input_tokens=pl.col("cache_write_tokens"),
            completion_tokens_details=pl.struct(reasoning_tokens=pl.col("reasoning_tokens")),
        ),
        spend_logs_metadata=pl.struct(
            feature=pl.col("feature"), agent=pl.col("agent"), workflow=pl.col("workflow"), **_TRACE
        ),
        attempted_retries=pl.col("attempt") - 1,
        error_information=pl.struct(error_class=pl.col("error_type")),
    ).struct.json_encode()
    frame.select(
        pl.col("request_id"),
        call_type=pl.when(pl.col("operation") == "embeddings")
        .then(pl.lit("aembedding"))
        .otherwise(pl.lit("acompletion")),
        api_key=pl.col("api_key_id"),
        prompt_tokens=pl.col("input_tokens"),
        completion_tokens=pl.col("output_tokens"),
        total_tokens=pl.col("input_tokens") + pl.col("output_tokens"),
        startTime=_iso("event_time"),
        endTime=_END_TIME.dt.strftime(ISO_MS),
        model=pl.concat_str(pl.col("provider"), pl.lit("/"), pl.col("model")),
        custom_llm_provider=pl.col("provider"),
        metadata=metadata,
        cache_hit=pl.lit("False"),
        team_id=pl.col("team"),
        end_user=pl.col("customer"),
        status=pl.when(pl.col("status") == "error").then(pl.lit("failure")).otherwise(pl.lit("success")),
    ).write_csv(out, include_header=header)


def write_langfuse_jsonl(frame: pl.DataFrame, out: BinaryIO) -> None:
    """Langfuse observations (v1 export): GENERATION / EMBEDDING with disjoint `usageDetails` parts, the provider,
    key, request id, prompt hash and dimensions in `metadata`."""
    uncached = pl.col("input_tokens") - pl.col("cache_read_tokens") - pl.col("cache_write_tokens")
    frame.select(
        id=pl.col("span_id"),
        traceId=pl.col("trace_id"),
        parentObservationId=pl.col("parent_span_id"),
        type=pl.when(pl.col("operation") == "embeddings").then(pl.lit("EMBEDDING")).otherwise(pl.lit("GENERATION")),
        name=pl.col("operation"),
        startTime=_iso("event_time"),
        endTime=_END_TIME.dt.strftime(ISO_MS),
        model=pl.col("model"),
        userId=pl.col("customer"),
        level=pl.when(pl.col("status") == "error").then(pl.lit("ERROR")).otherwise(pl.lit("DEFAULT")),
        statusMessage=pl.col("error_type"),
        usageDetails=pl.struct(
            input=uncached,
            input_cached_tokens=pl.col("cache_read_tokens"),
            cache_creation_input_tokens=pl.col("cache_write_tokens") - pl.col("cache_write_1h_tokens"),
            cache_creation_1h_input_tokens=pl.col("cache_write_1h_tokens"),
            output=pl.col("output_tokens") - pl.col("reasoning_tokens"),
            output_reasoning_tokens=pl.col("reasoning_tokens"),
        ),
        metadata=pl.struct(
            pl.col("provider"),
            pl.col("api_key_id"),
            pl.col("request_id"),
            pl.col("prompt_hash"),
            pl.col("team"),
            pl.col("feature"),
            pl.col("agent"),
            pl.col("workflow"),
            _RETRY_ATTEMPT,
        ),
    ).write_ndjson(out)


def write_bedrock_logs(frame: pl.DataFrame, out_dir: Path, day: dt.date, chunk: int) -> list[Path]:
    """Invocation logs in Bedrock's key layout: one gzipped JSON Lines object per hour of the chunk (gzip header
    without a time, so the same calls give the same bytes). Counts exclude the cache, as Bedrock's do."""
    records = frame.select(
        pl.col("event_time").dt.hour().alias("_hour"),
        schemaType=pl.lit("ModelInvocationLog"),
        schemaVersion=pl.lit("1.0"),
        timestamp=_iso("event_time"),
        accountId=pl.lit(BEDROCK_ACCOUNT),
        identity=pl.struct(arn=pl.concat_str(pl.lit(f"arn:aws:iam::{BEDROCK_ACCOUNT}:role/"), pl.col("api_key_id"))),
        region=pl.lit(u.REGION),
        requestId=pl.col("request_id"),
        operation=pl.lit("Converse"),
        modelId=pl.col("model"),
        errorCode=pl.col("error_type"),
        input=pl.struct(
            inputContentType=pl.lit("application/json"),
            inputTokenCount=pl.col("input_tokens") - pl.col("cache_read_tokens") - pl.col("cache_write_tokens"),
            cacheReadInputTokenCount=pl.col("cache_read_tokens"),
            cacheWriteInputTokenCount=pl.col("cache_write_tokens"),
        ),
        output=pl.struct(outputContentType=pl.lit("application/json"), outputTokenCount=pl.col("output_tokens")),
        requestMetadata=pl.struct(
            pl.col("team"),
            pl.col("feature"),
            pl.col("customer"),
            pl.col("agent"),
            pl.col("workflow"),
            _RETRY_ATTEMPT,
            **_TRACE,
        ),
    )
    written = []
    for (hour,), part in records.partition_by("_hour", as_dict=True, maintain_order=True).items():  # <= 24
        folder = out_dir / BEDROCK_FOLDER / f"{day:%Y/%m/%d}/{hour:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = (
            folder
            / f"{BEDROCK_ACCOUNT}_BedrockModelInvocationLogs_{u.REGION}_{day:%Y%m%d}T{hour:02d}00Z_{chunk:04d}.json.gz"
        )
        buffer = io.BytesIO()
        part.drop("_hour").write_ndjson(buffer)
        with path.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
            gz.write(buffer.getvalue())
        written.append(path)
    return written


def _pages(results: list[str], envelope: str, folder: Path, name: str) -> list[Path]:
    """Results (JSON text) as API pages of `PAGE_SIZE`: `{"data": [bucket], "has_more", "next_page"}`."""
    folder.mkdir(parents=True, exist_ok=True)
    chunks = [results[i : i + PAGE_SIZE] for i in range(0, len(results), PAGE_SIZE)] or [[]]
    written = []
    for n, chunk in enumerate(chunks, start=1):
        more = n < len(chunks)
        token = json.dumps(f"page_{n + 1:04d}") if more else "null"
        body = f'{{"object":"page","data":[{envelope}{",".join(chunk)}]}}],"has_more":{str(more).lower()},'
        path = folder / f"{name}-{n:04d}.json"
        path.write_text(body + f'"next_page":{token}}}\n')
        written.append(path)
    return written


def _token_type(row: Mapping[str, str]) -> str:
    return row["SkuId"].rsplit(":", 1)[1]


def openai_cost_pages(rows: list[dict[str, str]], day: dt.date, folder: Path) -> tuple[list[Path], Decimal]:
    """OpenAI Costs pages (one daily bucket grouped by project, line item and key): `amount.value` a JSON number,
    `line_item` "<model>, <component>". Returns the files and their total."""
    start = int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp())
    results = [
        '{"object":"organization.costs.result","amount":{"value":'
        + r["BilledCost"]
        + ',"currency":"usd"},'
        + json.dumps(
            {
                "line_item": f"{r['x_Model']}, {OPENAI_COMPONENTS[_token_type(r)]}",
                "project_id": r["SubAccountId"],
                "api_key_id": r["x_ApiKeyId"],
                "quantity": int(r["PricingQuantity"]),
                "quantity_unit": "tokens",
            }
        )[1:]
        for r in rows
    ]
    envelope = f'{{"object":"bucket","start_time":{start},"end_time":{start + 86_400},"results":['
    total = sum((Decimal(r["BilledCost"]) for r in rows), Decimal(0))
    return _pages(results, envelope, folder, "costs"), total


def anthropic_cost_pages(rows: list[dict[str, str]], day: dt.date, folder: Path) -> tuple[list[Path], Decimal]:
    """Anthropic cost_report pages (one daily bucket grouped by workspace and description): the amount a decimal
    string of cents, no API key, so the key lines of a model and token type add up to one result."""
    amounts: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for r in rows:
        amounts[(r["x_Model"], _token_type(r))] += Decimal(r["BilledCost"])
    results = [
        json.dumps(
            {
                "currency": "USD",
                "amount": format(amount * 100, "f"),
                "workspace_id": rows[0]["SubAccountId"],
                "description": f"{model} usage - {ANTHROPIC_TOKEN_TYPES[token_type]}",
                "cost_type": "tokens",
                "context_window": "0-200k",
                "model": model,
                "service_tier": "standard",
                "token_type": ANTHROPIC_TOKEN_TYPES[token_type],
                "inference_geo": None,
            }
        )
        for (model, token_type), amount in sorted(amounts.items())
    ]
    bounds = f"{day.isoformat()}T00:00:00Z", f"{(day + dt.timedelta(days=1)).isoformat()}T00:00:00Z"
    envelope = f'{{"starting_at":"{bounds[0]}","ending_at":"{bounds[1]}","results":['
    return _pages(results, envelope, folder, "cost_report"), sum(amounts.values(), Decimal(0))


def openai_usage_pages(served: pl.DataFrame, day: dt.date, folder: Path) -> list[Path]:
    """OpenAI Usage pages of the completions and embeddings endpoints (one daily bucket grouped by project, key,
    model, batch and service tier): per model and key, the tokens and requests of every call served (`served`:
    `bills.served_totals`). `input_tokens` includes the cached tokens, as OpenAI reports it."""
    start = int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp())
    envelope = f'{{"object":"bucket","start_time":{start},"end_time":{start + 86_400},"results":['
    written = []
    for endpoint in ("completions", "embeddings"):
        results = []
        for r in served.iter_rows(named=True):
            if ("embedding" in r["model"]) != (endpoint == "embeddings"):
                continue
            tokens = {"input_tokens": r["uncached_input"] + r["cache_read"] + r["cache_write_5m"] + r["cache_write_1h"]}
            if endpoint == "completions":
                tokens |= {"input_cached_tokens": r["cache_read"], "output_tokens": r["output"]}
            grouping = {
                "project_id": VENDOR_PROJECT,
                "user_id": None,
                "api_key_id": r["api_key_id"],
                "model": r["model"],
            }
            if endpoint == "completions":
                grouping |= {"batch": False, "service_tier": "default"}
            record = {"object": f"organization.usage.{endpoint}.result", **tokens, "num_model_requests": r["requests"]}
            results.append(json.dumps(record | grouping))
        written += _pages(results, envelope, folder, endpoint)
    return written


def anthropic_usage_pages(served: pl.DataFrame, day: dt.date, folder: Path) -> list[Path]:
    """Anthropic Messages usage report pages (one daily bucket grouped by key, workspace, model, service tier and
    context window): per model and key, the tokens of every call served (`served`: `bills.served_totals`); the
    report has no request count."""
    results = [
        json.dumps(
            {
                "model": r["model"],
                "workspace_id": VENDOR_WORKSPACE,
                "api_key_id": r["api_key_id"],
                "service_tier": "standard",
                "context_window": "0-200k",
                "uncached_input_tokens": r["uncached_input"],
                "cache_read_input_tokens": r["cache_read"],
                "cache_creation": {
                    "ephemeral_5m_input_tokens": r["cache_write_5m"],
                    "ephemeral_1h_input_tokens": r["cache_write_1h"],
                },
                "output_tokens": r["output"],
            }
        )
        for r in served.iter_rows(named=True)
    ]
    bounds = f"{day.isoformat()}T00:00:00Z", f"{(day + dt.timedelta(days=1)).isoformat()}T00:00:00Z"
    envelope = f'{{"starting_at":"{bounds[0]}","ending_at":"{bounds[1]}","results":['
    return _pages(results, envelope, folder, "messages")


def write_invoices(lines: Iterable[Mapping[str, str]], path: Path) -> Path:
    """Invoice lines of one month as CSV (`assets.ingest.invoices` columns; `period_end` inclusive)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=INVOICE_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(lines)
    return path
