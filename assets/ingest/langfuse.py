"""Langfuse observation exports (JSON Lines or Parquet of v1 `GENERATION` observations or v2 `ObservationV2`) as
`usage_events`.

A file holds observations of every type; its records are the **model calls**: observations of type `GENERATION`
(operation `chat`) or `EMBEDDING` (v2's embedding calls, operation `embeddings`), plus one record per line that is
not a JSON object and one per observation without a type (rejected: it cannot be told apart). Spans, events,
agents, tools, chains, retrievers, evaluators and guardrails wrap or follow calls without being one, and are not
records by design, so rows in = calls + broken lines = rows staged + rows quarantined. `_row` is the line (or Parquet
row) number, so it has gaps where other observations were.

Columns: `startTime` is the event time and `endTime - startTime` the latency; `providedModelName` (v2), else
`model` (v1), the model; `traceId` → trace_id, `id` → span_id, `parentObservationId` → parent_span_id; `userId`
(v2) → customer; `level` ERROR → status error with `statusMessage` as the error type. `sessionId` is a conversation
that spans traces, not a column of `usage_events`: map it with option `fields` if wanted. Dimensions default to
`metadata.<dimension>` (team, feature, agent, workflow); option `fields` maps any of them to other paths, e.g.
`tags[team:*]` (the syntax is in `assets.ingest.records`). Observations carry no try number: an application that
retries can put it in `metadata` and map it, `{attempt: metadata.attempt}` (a whole number ≥ 1). Langfuse
observations do not name the provider: a path in `fields.provider` (e.g. `metadata.ls_provider`, which LangChain
sets) reads it, normalised to the price catalog's ids; otherwise staging infers it from the model name (a file may
mix providers), with option `provider` (e.g. `azure`) as the source's own answer for a bare model name.

Tokens: `usageDetails` (else, absent or empty, the legacy `usage` object's `input` and `output`) maps Langfuse usage
types to counts, and Langfuse's convention is that the types are
disjoint parts — its SDKs subtract the cached tokens from `input` and store them as `input_cached_tokens` (OpenAI),
Anthropic's `input` is already uncached beside `cache_read_input_tokens` and `cache_creation_input_tokens` — and
that every type whose name contains `input` is input, every one containing `output` output (`total` is neither).
So, with names compared in lower case:

| apportion | sum of the usageDetails values whose key | e.g. |
|---|---|---|
| input_tokens | contains `input` (or `prompt`) | input, input_cached_tokens, cache_creation_input_tokens |
| cache_read_tokens | is input and contains `cached` or `cache_read` | input_cached_tokens, cache_read_input_tokens |
| cache_write_tokens | is input and contains `cache_creation` or `cache_write` | cache_creation_input_tokens |
| cache_write_1h_tokens | is a cache-write key containing `1h` | |
| output_tokens | contains `output` (or `completion`) | output, output_reasoning_tokens, completion_details.reasoning |
| reasoning_tokens | is output and contains `reasoning` | output_reasoning_tokens, completion_details.reasoning |
| web_search_requests | contains `web_search` and is neither | web_search_requests (Anthropic, billed per search) |

`prompt` and `completion` are the names OpenAI-style usage objects use for input and output (an SDK that passes them
through gives keys like `completion_details.reasoning`). Keys naming none of these (`total`) are not tokens. A
`usageDetails` that is not an object of numbers is left as it is in `input_tokens`, where the validator rejects it
showing the value. `costDetails` and `totalCost` are Langfuse's own prices, fixed when it ingested the observation (no
re-pricing, langfuse#12184): they are not read, the pricing layer prices every call. `input` and `output` (prompt and
response) are never read, and raw keeps a copy of each file without them (`redact`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb

from assets.ingest.base import SourceKind
from assets.ingest.counts import rows_as_parsed
from assets.ingest.readers import create_view, file_format, sql_string
from assets.ingest.records import (
    LogOptions,
    RecordPaths,
    check_provider_option,
    configured_paths,
    latency_ms,
    provider_id,
)
from assets.ingest.redact import redact_copy
from assets.ingest.usage_canonical import USAGE_EVENT_CHECKS
from assets.schemas import USAGE_EVENTS

CALL_TYPES = {"GENERATION": "chat", "EMBEDDING": "embeddings"}
"""Observation types that are model calls → operation."""

DEFAULT_FIELDS: dict[str, tuple[str, ...]] = {
    "trace_id": ("traceId",),
    "span_id": ("id",),
    "parent_span_id": ("parentObservationId",),
    "model": ("providedModelName", "model"),
    "customer": ("userId",),
    "error_type": ("statusMessage",),
    "team": ("metadata.team",),
    "feature": ("metadata.feature",),
    "agent": ("metadata.agent",),
    "workflow": ("metadata.workflow",),
}

CONTENT: tuple[tuple[str, ...], ...] = (("input",), ("output",))

_INPUT = "(contains(k, 'input') or contains(k, 'prompt'))"
_OUTPUT = "(contains(k, 'output') or contains(k, 'completion'))"
_CACHE_WRITE = f"{_INPUT} and (contains(k, 'cache_creation') or contains(k, 'cache_write'))"
TOKEN_KEYS = {
    "input_tokens": _INPUT,
    "cache_read_tokens": f"{_INPUT} and (contains(k, 'cached') or contains(k, 'cache_read'))",
    "cache_write_tokens": _CACHE_WRITE,
    "cache_write_1h_tokens": f"{_CACHE_WRITE} and contains(k, '1h')",
    "output_tokens": _OUTPUT,
    "reasoning_tokens": f"{_OUTPUT} and contains(k, 'reasoning')",
    "web_search_requests": f"contains(k, 'web_search') and not {_INPUT} and not {_OUTPUT}",
}
"""Which usageDetails keys (`k`, lower-cased) each token column sums (see the module docstring)."""


def usage_counts(paths: RecordPaths, usage: str) -> dict[str, str]:
    """SQL per token column: the sum of the values of the JSON object text `usage` whose key `TOKEN_KEYS` picks,
    as text; the JSON text itself when it is not an object of whole numbers (a null or a string is neither). The
    object is parsed once per record; counts are read as doubles, exact below 2^53."""
    numbers = paths.let(f"try_cast(try_cast({usage} as json) as map(varchar, double))")
    keys = paths.let(f"list_transform(map_keys({numbers}), lambda k: lower(k))")
    values = f"map_values({numbers})"
    broken = paths.let(
        f"{numbers} is null or list_count({values}) < len({values}) "
        f"or not coalesce(list_bool_and(list_transform({values}, lambda v: v = floor(v))), true)"
    )
    return {
        column: f"case when {usage} is null then null when {broken} then {usage} else "
        f"list_sum(list_where({values}, list_transform({keys}, lambda k: {picked})))::hugeint::varchar end"
        for column, picked in TOKEN_KEYS.items()
    }


def usage_details(paths: RecordPaths) -> str:
    """SQL for the usage object of an observation as JSON text: `usageDetails`, else (absent or `{}`) the legacy
    `usage` object's `input` and `output` (what SDKs and integrations such as LiteLLM's send as `usage`)."""
    details = paths.value("usageDetails")
    parts = ", ".join(
        f"struct_pack(k := {sql_string(key)}, v := try_cast({paths.value(f'usage.{key}')} as double))"
        for key in ("input", "output")
    )
    legacy = paths.let(f"to_json(map_from_entries(list_filter([{parts}], lambda e: e.v is not null)))::varchar")
    return f"coalesce(case when {details} <> '{{}}' then {details} end, nullif({legacy}, '{{}}'))"


def read_langfuse(con: duckdb.DuckDBPyConnection, files: list[Path], view: str, options: Mapping[str, Any]) -> None:
    """Options: `provider` (the provider of a call whose record names none; applied in staging, see
    `assets.ingest.records.resolve_model`) and `fields` (column → path(s), replacing `DEFAULT_FIELDS` per column)."""
    fields = configured_paths(options, DEFAULT_FIELDS, CONTENT)
    check_provider_option(options)
    paths = RecordPaths()
    exprs = {column: paths.first(p) for column, p in fields.items()}
    provider = exprs.get("provider", "null")
    failed = paths.let(f"upper({paths.value('level')}) = 'ERROR'")
    kind = paths.let(f"upper({paths.value('type')})")
    operations = " ".join(f"when {sql_string(k)} then {sql_string(v)}" for k, v in CALL_TYPES.items())
    exprs.update(
        usage_counts(paths, usage_details(paths)),
        event_time=paths.value("startTime"),
        latency_ms=latency_ms(paths.value("startTime"), paths.value("endTime")),
        provider=provider_id(provider),
        operation=exprs.get("operation", f"case {kind} {operations} end"),
        status=f"case when {failed} then 'error' else 'ok' end",
        error_type=f"case when {failed} then {exprs['error_type']} end",
        request_count="1",
    )
    paths.reject(f"{kind} is null", "observation type missing", "type")
    calls = ", ".join(sql_string(k) for k in CALL_TYPES)
    selects = []
    for path in files:
        fmt = file_format(path)
        if fmt == "csv":
            raise ValueError(f"{path}: Langfuse exports are read as JSON Lines or Parquet")
        selects.append(
            paths.select(con, path, fmt, exprs, keep=f"{kind} is null or {kind} in ({calls})", required=("startTime",))
        )
    create_view(con, view, USAGE_EVENTS, selects)


def redact_observations(source: Path, target: Path) -> None:
    """The raw copy: observations without their `input` and `output`."""
    redact_copy(source, target, file_format(source), CONTENT)


class LangfuseOptions(LogOptions):
    defaults = DEFAULT_FIELDS
    content = CONTENT


LANGFUSE_OBSERVATIONS = SourceKind(
    "langfuse_observations",
    "usage_events",
    read_langfuse,
    USAGE_EVENT_CHECKS,
    redact=redact_observations,
    count_rows=rows_as_parsed,
    options_model=LangfuseOptions,
)
"""Only model calls are records, not every observation of a file: the rows parsed are the rows in."""
