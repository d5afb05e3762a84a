"""OpenTelemetry GenAI spans from OTLP JSON files (the collector's file exporter) as `usage_events`.

A file holds one `ExportTraceServiceRequest` per line: `resourceSpans[].resource.attributes` and
`resourceSpans[].scopeSpans[].spans[]`. The file's records are its **GenAI spans** (spans whose own attributes
name a GenAI operation or provider: `gen_ai.operation.name`, `gen_ai.provider.name` or the older
`gen_ai.system`), except agent, workflow and tool spans that wrap the calls (`ROLLUP_OPERATIONS`), plus one record
per line that is not a JSON object. Other spans (HTTP, database, the application's own) are not model calls and are
ignored by design, so rows in = GenAI spans + broken lines =
rows staged + rows quarantined. `_row` numbers the records in file order.

Attributes are read by key only; message content (`gen_ai.input.messages`, `gen_ai.output.messages`, …) is
never selected into any column, and option `attributes` may not name it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
from pydantic import Field, field_validator

from assets.ingest.base import SourceKind
from assets.ingest.counts import rows_as_parsed
from assets.ingest.options import KindOptions
from assets.ingest.readers import create_view, json_error, jsonl_lines, project, sql_string
from assets.ingest.redact import is_content_key, redact_otlp_json
from assets.ingest.usage_canonical import USAGE_EVENT_CHECKS
from assets.schemas import USAGE_EVENTS

ROLLUP_OPERATIONS = ("invoke_agent", "invoke_workflow", "create_agent", "execute_tool")
"""Operations whose spans wrap model calls rather than being one: an agent or workflow span may carry its
children's token totals, so counting it would count those tokens twice. Their child spans are the calls."""

DEFAULT_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "provider": ("gen_ai.provider.name", "gen_ai.system"),
    "model": ("gen_ai.response.model", "gen_ai.request.model"),
    "operation": ("gen_ai.operation.name", "llm.request.type"),
    "service_tier": ("openai.response.service_tier", "gen_ai.openai.response.service_tier"),
    "input_tokens": ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.usage.prompt_tokens"),
    "output_tokens": ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.usage.completion_tokens"),
    "cache_read_tokens": ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens"),
    "cache_write_tokens": ("gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_creation_input_tokens"),
    "reasoning_tokens": (
        "gen_ai.usage.reasoning.output_tokens",
        "gen_ai.usage.reasoning_tokens",
        "gen_ai.usage.output_tokens_details.reasoning_tokens",
        "llm.usage.reasoning_tokens",
    ),
    "request_id": ("gen_ai.response.id",),
    "error_type": ("error.type",),
    "team": ("app.team",),
    "feature": ("app.feature",),
    "customer": ("app.customer_id", "enduser.id"),
    "api_key_id": ("app.api_key_id",),
    "prompt_hash": ("app.prompt_hash",),
    "attempt": ("app.attempt",),
    "agent": ("gen_ai.agent.name",),
    "workflow": ("gen_ai.workflow.name",),
}
"""Attribute keys per column, tried in order on the span's attributes, then on its resource's. Deprecated
names (`gen_ai.system`, `prompt_tokens`, `completion_tokens`) come after the current ones: instrumentations
before semconv 1.37 emit the old names, and OpenLLMetry (Traceloop) and OpenLIT still write their own
(`llm.request.type`, `llm.usage.*`, `gen_ai.usage.cache_read_input_tokens`, `gen_ai.usage.reasoning_tokens`)."""

OPERATIONS = {"completion": "text_completion", "embedding": "embeddings", "embeddings": "embeddings"}
"""Operation names of the legacy attributes (Traceloop's `llm.request.type`: chat, completion, embedding, rerank)
that differ from the GenAI semconv names."""

SPAN_COLUMNS = frozenset(
    {"event_time", "trace_id", "span_id", "parent_span_id", "latency_ms", "status", "request_count"}
)
"""Columns taken from the span itself, not from attributes."""

_LISTS = (("_sk", "_sv"), ("_rk", "_rv"))
"""(keys, values) attribute lists of a span, then of its resource."""

PROVIDERS: dict[str, str] = {
    "aws.bedrock": "aws",
    "azure.ai.openai": "azure",
    "az.ai.openai": "azure",
    "gcp.vertex_ai": "google",
    "gcp.gemini": "google",
    "gcp.gen_ai": "google",
    "vertex_ai": "google",
    "gemini": "google",
    "x_ai": "x-ai",
    "xai": "x-ai",
    "mistral_ai": "mistral",
}
"""OTel provider names (current and pre-1.37 `gen_ai.system` values) → the price catalog's provider ids."""

_ANY_VALUE = {
    "stringValue": "VARCHAR",
    "intValue": "VARCHAR",
    "doubleValue": "VARCHAR",
    "boolValue": "VARCHAR",
}
_ATTRIBUTES = [{"key": "VARCHAR", "value": _ANY_VALUE}]
_SPAN = {
    "traceId": "VARCHAR",
    "spanId": "VARCHAR",
    "parentSpanId": "VARCHAR",
    "startTimeUnixNano": "VARCHAR",
    "endTimeUnixNano": "VARCHAR",
    "attributes": _ATTRIBUTES,
    "status": {"code": "VARCHAR", "message": "VARCHAR"},
}
_REQUEST = {"resourceSpans": [{"resource": {"attributes": _ATTRIBUTES}, "scopeSpans": [{"spans": [_SPAN]}]}]}
"""The parts of an ExportTraceServiceRequest read. Numbers may arrive as JSON strings or numbers (int64 as a
string is the protobuf JSON mapping): reading them as VARCHAR accepts both. AnyValue kinds not listed
(`arrayValue`, `kvlistValue`, `bytesValue`) read as null."""


def attribute_keys(options: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """The attribute keys per column: the defaults, overridden per column by option `attributes`
    (column → key or list of keys)."""
    keys = dict(DEFAULT_ATTRIBUTES)
    allowed = {c.name for c in USAGE_EVENTS} - SPAN_COLUMNS
    for column, given in (options.get("attributes") or {}).items():
        listed = (given,) if isinstance(given, str) else tuple(given)
        if not all(isinstance(k, str) for k in listed):
            raise ValueError(f"options.attributes.{column}: expected an attribute key or a list of keys")
        if column not in allowed:
            raise ValueError(f"options.attributes: {column!r} is not a usage_events column read from attributes")
        content = [k for k in listed if is_content_key(k)]
        if content:
            raise ValueError(f"options.attributes.{column}: {', '.join(content)} carries message content")
        keys[column] = listed
    return keys


def _lookup(keys: Sequence[str]) -> str:
    """SQL for the value of the first of `keys` on the span, else the first on its resource, as text."""
    tries = [f"{values}[list_position({names}, {sql_string(k)})]" for names, values in _LISTS for k in keys]
    return f"coalesce({', '.join(tries)})" if tries else "null"


def _hex_id(expr: str) -> str:
    """SQL for a trace or span id as lower-case hex; some exporters wrongly emit base64 (protobuf JSON)."""
    return (
        f"case when regexp_full_match({expr}, '[0-9A-Fa-f]*') then lower({expr}) "
        f"else coalesce(lower(hex(try(from_base64({expr})))), {expr}) end"
    )


def _nanos_text(expr: str) -> str:
    """SQL for nanoseconds since the epoch as ISO 8601 UTC text (to the microsecond); text that is not an
    integer is kept for the validator to reject."""
    micros = f"try_cast({expr} as bigint) // 1000"
    return f"coalesce(strftime(make_timestamp({micros}), '%Y-%m-%dT%H:%M:%S.%fZ'), {expr})"


def _provider(expr: str) -> str:
    cases = " ".join(f"when {sql_string(k)} then {sql_string(v)}" for k, v in PROVIDERS.items())
    return f"case lower({expr}) {cases} else lower({expr}) end"


def _records(path: Path, genai_keys: Sequence[str]) -> str:
    """`(_row, _error, _span, _sk, _sv, _rk, _rv)`: one row per GenAI span, with the keys and text values of
    its span's and its resource's attributes as parallel lists, and one row per line that is not a JSON
    object. The file is one ordered stream, so `row_number() over ()` numbers the records in file order."""
    parsed = (
        f"(select _row as _line, line, try(from_json(line, {sql_string(json.dumps(_REQUEST))})) as _req "
        f"from {jsonl_lines(path)})"
    )
    pairs = "lambda sp: struct_pack(span := sp, resource := rs.resource.attributes)"
    flat = (
        "flatten(list_transform(_req.resourceSpans, lambda rs: "
        f"flatten(list_transform(rs.scopeSpans, lambda ss: list_transform(ss.spans, {pairs})))))"
    )
    wanted = "[" + ", ".join(sql_string(k) for k in genai_keys) + "]"
    operation = (
        "list_extract(list_transform(list_filter(s.span.attributes, lambda a: a.key = 'gen_ai.operation.name'), "
        "lambda a: a.value.stringValue), 1)"
    )
    not_calls = ", ".join(sql_string(op) for op in ROLLUP_OPERATIONS)
    is_genai = (
        f"lambda s: list_has_any(list_transform(s.span.attributes, lambda a: a.key), {wanted}) "
        f"and coalesce({operation}, '') not in ({not_calls})"
    )
    spans = (
        f"(select _error, case when _error is null then list_filter({flat}, {is_genai}) else [null] end as _spans "
        f"from (select _req, {json_error('_req', 'line')} as _error from {parsed}))"
    )
    unnested = f"(select _error, unnest(_spans) as _s from {spans})"
    numbered = f"(select row_number() over () as _row, _error, _s from {unnested})"
    text = "coalesce(a.value.stringValue, a.value.intValue, a.value.doubleValue, a.value.boolValue)"
    return (
        f"(select _row, _error, _s.span as _span, "
        f"list_transform(_s.span.attributes, lambda a: a.key) as _sk, "
        f"list_transform(_s.span.attributes, lambda a: {text}) as _sv, "
        f"list_transform(_s.resource, lambda a: a.key) as _rk, "
        f"list_transform(_s.resource, lambda a: {text}) as _rv from {numbered})"
    )


def _select(path: Path, keys: Mapping[str, Sequence[str]]) -> str:
    exprs = {column: _lookup(k) for column, k in keys.items()}
    error_type = exprs["error_type"]
    failed = f"(_span.status.code in ('2', 'STATUS_CODE_ERROR') or {error_type} is not null)"
    start, end = "_span.startTimeUnixNano", "_span.endTimeUnixNano"
    operations = " ".join(f"when {sql_string(k)} then {sql_string(v)}" for k, v in OPERATIONS.items())
    exprs.update(
        provider=_provider(exprs["provider"]),
        operation=f"case lower({exprs['operation']}) {operations} else {exprs['operation']} end",
        error_type=f"coalesce({error_type}, case when {failed} then nullif(_span.status.message, '') end)",
        status=f"case when {failed} then 'error' else 'ok' end",
        event_time=_nanos_text(start),
        latency_ms=f"(try_cast({end} as bigint) - try_cast({start} as bigint)) / 1e6",
        trace_id=_hex_id("_span.traceId"),
        span_id=_hex_id("_span.spanId"),
        parent_span_id=_hex_id("_span.parentSpanId"),
        request_count="1",
    )
    relation = _records(path, [*keys["operation"], *keys["provider"]])
    return project(path, relation, USAGE_EVENTS, exprs, error="_error")


def read_otlp(con: duckdb.DuckDBPyConnection, files: list[Path], view: str, options: Mapping[str, Any]) -> None:
    """Option `attributes`: column → attribute keys, replacing the column's `DEFAULT_ATTRIBUTES`."""
    keys = attribute_keys(options)
    create_view(con, view, USAGE_EVENTS, [_select(path, keys) for path in files])


class OtlpOptions(KindOptions):
    """Options `attributes` (column → attribute keys, checked as `attribute_keys` does) and `provider` (the provider
    of a span that names none)."""

    attributes: dict[str, Any] = Field(default_factory=dict)
    provider: str | None = None

    @field_validator("attributes")
    @classmethod
    def _keys(cls, attributes: dict[str, Any]) -> dict[str, Any]:
        attribute_keys({"attributes": attributes})
        return attributes


OTLP_JSON = SourceKind(
    "otlp_json",
    "usage_events",
    read_otlp,
    USAGE_EVENT_CHECKS,
    redact=redact_otlp_json,
    count_rows=rows_as_parsed,
    options_model=OtlpOptions,
)
"""A line is a batch of spans, and only GenAI spans are records: the rows parsed are the rows in."""
