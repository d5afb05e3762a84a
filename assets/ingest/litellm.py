"""LiteLLM proxy spend logs (`LiteLLM_SpendLogs` exported as CSV, JSON Lines or Parquet) as `usage_events`.

One row of the table is one call through the proxy and one record. Columns: `request_id`; `startTime` is the
event time and `endTime - startTime` the latency; `custom_llm_provider` is the provider, normalised to the price
catalog's ids (`bedrock` → `aws`, `vertex_ai` → `google`, …; when it is empty, a known provider prefix of `model`);
`model` loses a `<provider>/` prefix; `call_type` becomes the operation (`acompletion` → `chat`, `aembedding` →
`embeddings`); `status` success/failure → ok/error, with `metadata.error_information.error_class` as the error
type; `attempt` = 1 + `metadata.attempted_retries` when LiteLLM logged it; `api_key` (LiteLLM stores its hash) is
the API key id; `team_id` (else `metadata.user_api_key_team_id`, else `…_team_alias`) the team and `end_user` the
customer.

Tokens (FORMATS-AI §1.1, §6): `prompt_tokens` already includes cached tokens (litellm#15945), so it is `input_tokens` as
it is; the cache parts are not columns but sit in `metadata.usage_object`: reads in
`prompt_tokens_details.cached_tokens` (else `cache_read_input_tokens`), writes in `cache_creation_input_tokens` (else
`prompt_tokens_details.cache_creation_tokens`), the 1-hour writes in
`prompt_tokens_details.cache_creation_token_details.ephemeral_1h_input_tokens`, reasoning in
`completion_tokens_details.reasoning_tokens` (Responses API: `output_tokens_details.reasoning_tokens`), and Anthropic's
server-side web searches (billed per search) in `server_tool_use.web_search_requests`. `metadata` and `request_tags` are
JSON text (or JSON values in a JSON Lines export); a record whose `metadata` is not JSON is rejected naming that column,
since its cache tokens cannot be known.

A LiteLLM response-cache hit (`cache_hit` true; not provider prompt caching) was answered by the proxy without a
provider call: it is staged with zero tokens and `request_count` 0, visible but neither priced nor a driver.
`spend` is LiteLLM's estimate from its own price map at request time and is not read (the pricing layer prices
every call at its dated list price). `messages`, `response`, `proxy_server_request` and error texts may hold prompt
text: they are never read, and raw keeps a copy of each file without them (`redact`).

Option `fields` maps a column to other paths of the record (syntax in `assets.ingest.records`), e.g.
`{feature: metadata.spend_logs_metadata.feature, agent: "request_tags[agent:*]"}`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb

from assets.ingest.base import SourceKind
from assets.ingest.readers import create_view, file_format, sql_string
from assets.ingest.records import (
    PROVIDER_IDS,
    FieldPath,
    LogOptions,
    RecordPaths,
    configured_paths,
    counts_text,
    latency_ms,
    provider_id,
)
from assets.ingest.redact import redact_copy
from assets.ingest.usage_canonical import USAGE_EVENT_CHECKS
from assets.schemas import USAGE_EVENTS

MODEL_PREFIXES = frozenset(PROVIDER_IDS) | {
    "openai",
    "anthropic",
    "azure",
    "groq",
    "deepseek",
    "cohere",
    "mistral",
    "openrouter",
    "perplexity",
    "cerebras",
    "databricks",
    "xai",
}
"""LiteLLM provider names that prefix a model (`openai/gpt-4o`): a prefix names the provider of a spend log row
without `custom_llm_provider`; another slash in a model name (`meta-llama/Llama-3-70b`) is part of the name."""


_USAGE = "metadata.usage_object"
DEFAULT_FIELDS: dict[str, tuple[str, ...]] = {
    "request_id": ("request_id",),
    "provider": ("custom_llm_provider",),
    "model": ("model",),
    "operation": ("call_type",),
    "api_key_id": ("api_key",),
    "error_type": ("metadata.error_information.error_class",),
    "team": ("team_id", "metadata.user_api_key_team_id", "metadata.user_api_key_team_alias"),
    "customer": ("end_user",),
    "feature": ("metadata.spend_logs_metadata.feature",),
    "agent": ("agent_id", "metadata.spend_logs_metadata.agent"),
    "workflow": ("metadata.spend_logs_metadata.workflow",),
}
"""Paths per column; `spend_logs_metadata` holds the caller's own key/values (`metadata={"spend_logs_metadata":…}`
on the request)."""

JSON_TEXT = ("metadata", "request_tags")
"""Columns holding JSON as text (a JSON Lines export may hold them as JSON values instead)."""

CONTENT: tuple[tuple[str, ...], ...] = (
    ("messages",),
    ("response",),
    ("proxy_server_request",),
    ("metadata", "proxy_server_request"),
    ("metadata", "error_information", "traceback"),
    ("metadata", "error_information", "error_message"),
)
"""Fields that may carry prompt or response text (an error message may quote the prompt)."""

_CALL_TYPES = {
    "completion": "chat",
    "responses": "chat",
    "anthropic_messages": "chat",
    "text_completion": "text_completion",
    "embedding": "embeddings",
    "image_generation": "image_generation",
    "transcription": "transcription",
    "speech": "speech",
    "rerank": "rerank",
    "moderation": "moderation",
}
CALL_TYPES = {**_CALL_TYPES, **{f"a{k}": v for k, v in _CALL_TYPES.items()}}
"""LiteLLM `call_type` (async variants prefixed `a`) → operation, named as OTel GenAI names operations."""


def _operation(expr: str) -> str:
    cases = " ".join(f"when {sql_string(k)} then {sql_string(v)}" for k, v in CALL_TYPES.items())
    return f"case {expr} {cases} else {expr} end"


def spend_log_exprs(paths: RecordPaths, fields: Mapping[str, Sequence[FieldPath]]) -> dict[str, str]:
    """`usage_events` columns as SQL over the paths of a spend log record."""
    exprs = {column: paths.first(p) for column, p in fields.items()}
    model = paths.let(exprs["model"])
    prefix = f"lower(split_part({model}, '/', 1))"
    known = ", ".join(sql_string(p) for p in sorted(MODEL_PREFIXES))
    provider = paths.let(
        f"coalesce(lower({exprs['provider']}), case when contains({model}, '/') and {prefix} in ({known}) "
        f"then {prefix} end)"
    )
    status = paths.let(f"lower({paths.first(['status', 'metadata.status'])})")
    cached = paths.let(f"coalesce(lower({paths.value('cache_hit')}) = 'true', false)")
    start = paths.value("startTime")

    def count(*candidates: str) -> str:
        return f"case when {cached} then '0' else {paths.first(candidates)} end"

    exprs.update(
        event_time=start,
        latency_ms=latency_ms(start, paths.value("endTime")),
        provider=provider_id(provider),
        model=f"case when starts_with(lower({model}), {provider} || '/') then substr({model}, length({provider}) + 2) "
        f"else {model} end",
        operation=_operation(exprs["operation"]),
        input_tokens=count("prompt_tokens"),
        output_tokens=count("completion_tokens"),
        cache_read_tokens=count(f"{_USAGE}.prompt_tokens_details.cached_tokens", f"{_USAGE}.cache_read_input_tokens"),
        cache_write_tokens=count(
            f"{_USAGE}.cache_creation_input_tokens", f"{_USAGE}.prompt_tokens_details.cache_creation_tokens"
        ),
        cache_write_1h_tokens=count(
            f"{_USAGE}.prompt_tokens_details.cache_creation_token_details.ephemeral_1h_input_tokens"
        ),
        reasoning_tokens=count(
            f"{_USAGE}.completion_tokens_details.reasoning_tokens", f"{_USAGE}.output_tokens_details.reasoning_tokens"
        ),
        web_search_requests=count(f"{_USAGE}.server_tool_use.web_search_requests"),
        request_count=f"case when {cached} then '0' else '1' end",
        status=f"case when {status} = 'failure' then 'error' when {status} = 'success' or {status} is null "
        f"then 'ok' else {status} end",
        attempt=exprs.get("attempt", counts_text([paths.first(["metadata.attempted_retries"])], plus=1)),
    )
    return exprs


def read_litellm(con: duckdb.DuckDBPyConnection, files: list[Path], view: str, options: Mapping[str, Any]) -> None:
    """Option `fields`: column → path(s), replacing `DEFAULT_FIELDS` per column (see the module docstring)."""
    fields = configured_paths(options, DEFAULT_FIELDS, CONTENT)
    paths = RecordPaths(json_text=JSON_TEXT)
    exprs = spend_log_exprs(paths, fields)
    selects = [paths.select(con, path, file_format(path), exprs, required=("startTime",)) for path in files]
    create_view(con, view, USAGE_EVENTS, selects)


def redact_spend_logs(source: Path, target: Path) -> None:
    """The raw copy: spend logs without `CONTENT` (prompts, responses, raw requests, error texts)."""
    redact_copy(source, target, file_format(source), CONTENT, JSON_TEXT)


class LiteLlmOptions(LogOptions):
    defaults = DEFAULT_FIELDS
    content = CONTENT


LITELLM_SPENDLOGS = SourceKind(
    "litellm_spendlogs",
    "usage_events",
    read_litellm,
    USAGE_EVENT_CHECKS,
    redact=redact_spend_logs,
    options_model=LiteLlmOptions,
)
