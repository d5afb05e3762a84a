"""LiteLLM proxy spend logs (`LiteLLM_SpendLogs` exported as CSV, JSON Lines or Parquet) as `usage_events`; and the
field paths with which the log kinds (`litellm_spendlogs`, `langfuse_observations`, `bedrock_invocation_logs`) read
their configurable columns.

One row of the table is one call through the proxy and one record. Columns: `request_id`; `startTime` is the
event time and `endTime - startTime` the latency; `custom_llm_provider` is the provider, normalised to the price
catalog's ids (`bedrock` → `aws`, `vertex_ai` → `google`, …; when it is empty, a known provider prefix of `model`);
`model` loses a `<provider>/` prefix; `call_type` becomes the operation (`acompletion` → `chat`, `aembedding` →
`embeddings`); `status` success/failure → ok/error, with `metadata.error_information.error_class` as the error
type; `attempt` = 1 + `metadata.attempted_retries` when LiteLLM logged it; `api_key` (LiteLLM stores its hash) is
the API key id; `team_id` (else `metadata.user_api_key_team_id`, else `…_team_alias`) the team and `end_user` the
customer.

Tokens (FORMATS-AI §1.1, §6): `prompt_tokens` already includes cached tokens (litellm#15945), so it is
`input_tokens` as it is; the cache parts are not columns but sit in `metadata.usage_object`: reads in
`prompt_tokens_details.cached_tokens` (else `cache_read_input_tokens`), writes in `cache_creation_input_tokens`
(else `prompt_tokens_details.cache_creation_tokens`), the 1-hour writes in
`prompt_tokens_details.cache_creation_token_details.ephemeral_1h_input_tokens`, and reasoning in
`completion_tokens_details.reasoning_tokens`. `metadata` and `request_tags` are JSON text (or JSON values in a
JSON Lines export); a record whose `metadata` is not JSON is rejected naming that column, since its cache tokens
cannot be known.

A LiteLLM response-cache hit (`cache_hit` true; not provider prompt caching) was answered by the proxy without a
provider call: it is staged with zero tokens and `request_count` 0, visible but neither priced nor a driver.
`spend` is LiteLLM's estimate from its own price map at request time and is not read (the pricing layer prices
every call at its dated list price). `messages`, `response`, `proxy_server_request` and error texts may hold prompt
text: they are never read, and raw keeps a copy of each file without them (`redact`).

Field paths: option `fields` maps a text column of `usage_events` to a path or a list of paths (the first non-blank
value wins), replacing the kind's default for that column:

    fields:
      feature: metadata.spend_logs_metadata.feature
      agent: request_tags[agent:*]
      team: [metadata.spend_logs_metadata.team, team_id]

A path names a top-level field of the record (a column of a CSV or Parquet file, a key of a JSON line), then keys
into its JSON, separated by dots; a key holding a dot or other characters is double-quoted
(`requestMetadata."cost.center"`, `""` for a quote). A final `[prefix*]` takes, from a JSON array of strings, the
first element that starts with `prefix` and yields the rest of it: `request_tags[agent:*]` reads `planner` from
`["team:search", "agent:planner"]`. Paths are parsed and checked before any data is read and compiled to JSON
pointers; nothing in them is evaluated, and paths into message content are refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from assets.ingest.base import SourceKind
from assets.ingest.otlp import PROVIDERS
from assets.ingest.readers import (
    MISSING_COLUMN,
    column_text,
    create_view,
    csv_records,
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
from assets.ingest.usage_canonical import USAGE_EVENT_CHECKS
from assets.schemas import USAGE_EVENTS, Column
from assets.sql import connect

# ---------------------------------------------------------------------------------------------------------------
# Field paths, shared by the log kinds

_BARE = r"[A-Za-z0-9_@$#:/+=,\-]+"
_QUOTED = r'"(?:[^"]|"")+"'
_SEGMENT = rf"(?:{_BARE}|{_QUOTED})"
_PATH = re.compile(rf'(?P<steps>{_SEGMENT}(?:\.{_SEGMENT})*)(?:\[(?P<prefix>[^\[\]*"]*)\*\])?')
_STEPS = re.compile(rf'(?:^|\.)(?:"(?P<quoted>(?:[^"]|"")+)"|(?P<bare>{_BARE}))')

FIELD_COLUMNS = tuple(c.name for c in USAGE_EVENTS if c.type == "VARCHAR" and c.name != "status")
"""Columns option `fields` may set: the text columns (`status` is normalised from each source's own codes; counts
and times are read from fixed places)."""


@dataclass(frozen=True)
class FieldPath:
    """A parsed path: the record's top-level `field`, `keys` into its JSON, and an optional array `prefix` pick."""

    text: str
    field: str
    keys: tuple[str, ...] = ()
    prefix: str | None = None

    def touches(self, prefixes: Iterable[tuple[str, ...]]) -> bool:
        """Whether the path reads inside one of `prefixes` (field, key, …) or a value that holds one."""
        steps = (self.field, *self.keys)
        return any(steps[: len(p)] == p or p[: len(steps)] == steps for p in prefixes)


def parse_path(text: str) -> FieldPath:
    match = _PATH.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a field path: field.key.key, a key in double quotes, optionally [prefix*]")
    steps = [
        m["bare"] if m["bare"] is not None else m["quoted"].replace('""', '"') for m in _STEPS.finditer(match["steps"])
    ]
    return FieldPath(text, steps[0], tuple(steps[1:]), match["prefix"])


def configured_paths(
    options: Mapping[str, Any], defaults: Mapping[str, Sequence[str]], content: Collection[tuple[str, ...]]
) -> dict[str, tuple[FieldPath, ...]]:
    """Paths per column: a kind's `defaults`, each column replaced by option `fields` (column → path or list of
    paths). Refuses unknown columns, malformed paths and paths inside the `content` prefixes."""
    paths = {column: tuple(parse_path(p) for p in listed) for column, listed in defaults.items()}
    given = options.get("fields") or {}
    if not isinstance(given, Mapping):
        raise ValueError("options.fields: expected a mapping of column → path or list of paths")
    for column, value in given.items():
        if column not in FIELD_COLUMNS:
            raise ValueError(f"options.fields: {column!r} is not a column set from a path: one of {FIELD_COLUMNS}")
        listed = [value] if isinstance(value, str) else value
        if not isinstance(listed, list) or not listed or not all(isinstance(p, str) for p in listed):
            raise ValueError(f"options.fields.{column}: expected a path or a non-empty list of paths")
        try:
            parsed = tuple(parse_path(p) for p in listed)
        except ValueError as exc:
            raise ValueError(f"options.fields.{column}: {exc}") from None
        reading = [p.text for p in parsed if p.touches(content)]
        if reading:
            raise ValueError(f"options.fields.{column}: {', '.join(reading)} reads message content")
        paths[column] = parsed
    return paths


class RecordPaths:
    """Field paths compiled to SQL over the records of one kind's files, whatever their format.

    `value` and `first` return SQL naming columns that `select` creates for each file: `_f<i>`, the text of a
    top-level field read whole, and `_p<n>`, the text at a path. In JSON Lines a path is read straight from the line
    (every value of a line comes from one `json_extract_string` call, so the line is parsed once). A field that holds
    JSON as text — any field of a CSV or Parquet file, and the `json_text` fields in JSON Lines (LiteLLM writes
    `metadata` as a JSON string) — is parsed once per record for all paths into it, and a record where it is not
    JSON is rejected naming the field.
    """

    def __init__(self, json_text: Collection[str] = ()) -> None:
        self._json_text = frozenset(json_text)
        self._fields: dict[str, int] = {}
        self._whole: set[str] = set()
        self._paths: dict[tuple[str, str], int] = {}
        self._rejects: list[tuple[str, str, str]] = []
        self._lets: list[str] = []

    def _field(self, name: str) -> int:
        return self._fields.setdefault(name, len(self._fields))

    def value(self, path: FieldPath | str) -> str:
        """SQL for the text at `path` (null when absent)."""
        path = parse_path(path) if isinstance(path, str) else path
        i = self._field(path.field)
        if not path.keys and path.prefix is None:
            self._whole.add(path.field)
            return f"_f{i}"
        pointer = "".join(json_pointer(k) for k in path.keys)
        expr = f"_p{self._paths.setdefault((path.field, pointer), len(self._paths))}"
        if path.prefix is None:
            return expr
        items = f"try(from_json({expr}, '[\"VARCHAR\"]'))"
        picked = f"list_filter({items}, lambda t: starts_with(t, {sql_string(path.prefix)}))[1]"
        return f"substr({picked}, {len(path.prefix) + 1})"

    def first(self, paths: Iterable[FieldPath | str]) -> str:
        """SQL for the first non-blank value at `paths`, or null."""
        tries = [f"nullif(trim({self.value(p)}), '')" for p in paths]
        return f"coalesce({', '.join(tries)})" if tries else "null"

    def let(self, sql: str) -> str:
        """A column computed once per record from SQL over `value`s and earlier `let`s, named by what is returned:
        an expression used in several places is then planned and evaluated once."""
        self._lets.append(sql)
        return f"_l{len(self._lets) - 1}"

    def reject(self, condition: str, reason: str, field: str) -> None:
        """Reject the records where SQL `condition` (over `value`s) holds, with `reason`, naming `field`."""
        self._rejects.append((condition, reason, field))

    def select(
        self,
        con: duckdb.DuckDBPyConnection,
        path: Path,
        fmt: str,
        exprs: Mapping[str, str],
        *,
        schema: list[Column] = USAGE_EVENTS,
        keep: str = "true",
        required: Sequence[str] = (),
    ) -> str:
        """One file (`fmt` csv, jsonl or parquet) as a `project` SELECT of `schema` from `exprs` (column → SQL over
        `value`s). Only records where SQL `keep` holds are records (broken lines always are); a CSV or Parquet file
        lacking a `required` field has each row rejected naming it."""
        parsed: dict[str, list[tuple[str, int]]] = {}
        direct: list[tuple[str, int]] = []
        for (field, pointer), n in self._paths.items():
            if fmt == "jsonl" and field not in self._json_text:
                direct.append((json_pointer(field) + pointer, n))
            else:
                parsed.setdefault(field, []).append((pointer, n))
        texts = {f: i for f, i in self._fields.items() if f in self._whole or f in parsed}
        missing: list[str] = []
        if fmt == "jsonl":
            pointers = [json_pointer(f) for f in texts] + [p for p, _ in direct]
            aliases = [f"_f{i}" for i in texts.values()] + [f"_p{n}" for _, n in direct]
            columns = [f"_v[{k}] as {a}" for k, a in enumerate(aliases, start=1)]
            base = f"(select _row, _error, {', '.join(columns)} from {json_records(jsonl_lines(path), pointers)})"
        else:
            records = csv_records(path) if fmt == "csv" else parquet_records(path)
            present = relation_columns(con, records)
            missing = [f for f in required if f not in present]
            columns = [
                f"{column_text(f, present[f]) if f in present else 'null'}::varchar as _f{i}" for f, i in texts.items()
            ]
            base = f"(select _row, null::varchar as _error, {', '.join(columns)} from {records})"
        checks: list[tuple[str, str, str]] = []
        if parsed:
            parses = [
                f"try(json_extract_string(_f{texts[f]}, {_list(p for p, _ in pts)})) as _j{texts[f]}"
                for f, pts in parsed.items()
            ]
            picks = [f"_j{texts[f]}[{k}] as _p{n}" for f, pts in parsed.items() for k, (_, n) in enumerate(pts, 1)]
            base = f"(select *, {', '.join(picks)} from (select *, {', '.join(parses)} from {base}))"
            checks = [
                (f"_f{texts[f]} is not null and _j{texts[f]} is null", f"malformed JSON in {f}", f) for f in parsed
            ]
        for k, sql in enumerate(self._lets):
            base = f"(select *, {sql} as _l{k} from {base})"
        checks += self._rejects
        whens = " ".join(f"when {c} then {sql_string(reason)}" for c, reason, _ in checks)
        error = f"case when _error is not null then _error {whens} end" if checks else "_error"
        relation = f"(select * replace ({error} as _error) from {base} where _error is not null or ({keep}))"
        if missing:
            selected = project(path, relation, schema, exprs, error=sql_string(MISSING_COLUMN))
            return with_error_column(selected, sql_string(missing[0]))
        selected = project(path, relation, schema, exprs, error="_error")
        named = " ".join(f"when {sql_string(reason)} then {sql_string(field)}" for _, reason, field in checks)
        return with_error_column(selected, f"case _error {named} end") if checks else selected


def with_error_column(select: str, column: str) -> str:
    """A `project` SELECT with `_error_column` set by the SQL `column` (over its output) where `project` left it
    null: `project` names only a missing required column, these kinds also name the field at fault."""
    return f"select * replace (coalesce(_error_column, ({column})::varchar) as _error_column) from ({select})"


def _list(texts: Iterable[str]) -> str:
    return "[" + ", ".join(sql_string(t) for t in texts) + "]"


# ---------------------------------------------------------------------------------------------------------------
# Redacted raw copies, shared by the log kinds


def content_patch(content: Collection[tuple[str, ...]]) -> dict[str, Any]:
    """The JSON merge patch (RFC 7386) deleting the `content` paths: `{"input": {"inputBodyJson": null}}`."""
    patch: dict[str, Any] = {}
    for steps in content:
        node = patch
        for step in steps[:-1]:
            node = node.setdefault(step, {})
        node[steps[-1]] = None
    return patch


def _patched(expr: str, patch: Mapping[str, Any], what: str) -> str:
    """SQL for the JSON object text `expr` with `patch` applied; text that is not a JSON object cannot be inspected
    and becomes a placeholder saying so (still not JSON, so it is rejected as the original would have been)."""
    placeholder = (
        f"'<redacted {what} that was not JSON: ' || strlen({expr}) || ' bytes, sha256 ' || left(sha256({expr}), 16) "
        "|| '>'"
    )
    merged = f"try(json_merge_patch({expr}, {sql_string(json.dumps(patch))}))::varchar"
    return (
        f"case when {expr} is null then null "
        f"else coalesce(case when starts_with(ltrim({expr}), '{{') then {merged} end, {placeholder}) end"
    )


def _patched_line(patch: Mapping[str, Any], json_text: Collection[str]) -> str:
    """SQL for a JSON line (`line`) without content; a `json_text` field may hold its JSON as a string, which is
    patched inside the string."""
    inner = {f: patch[f] for f in json_text if isinstance(patch.get(f), dict)}
    expr = _patched("line", {k: v for k, v in patch.items() if k not in inner}, "line")
    for field, sub in inner.items():
        pointer = sql_string(json_pointer(field))
        text = f"json_extract_string({expr}, {pointer})"
        in_string = f"json_merge_patch({expr}, json_object({sql_string(field)}, {_patched(text, sub, 'value')}))"
        in_place = f"json_merge_patch({expr}, {sql_string(json.dumps({field: sub}))})"
        expr = (
            f"case when {expr} is null or not starts_with({expr}, '{{') then {expr} "
            f"when json_type({expr}, {pointer}) = 'VARCHAR' then {in_string}::varchar else {in_place}::varchar end"
        )
    return expr


def redact_copy(
    source: Path, target: Path, fmt: str, content: Collection[tuple[str, ...]], json_text: Collection[str] = ()
) -> None:
    """Copy a log file (`fmt` csv, jsonl or parquet; gzipped when `target` ends in `.gz`) to `target` without the
    values at the `content` paths, in one streaming DuckDB pass. Records keep their numbers: a JSON Lines copy keeps
    blank lines, a CSV or Parquet copy keeps its rows in order with content columns null (a JSON text column is
    patched inside)."""
    patch = content_patch(content)
    con = connect()
    con.execute("set preserve_insertion_order = true")
    options = ", compression 'gzip'" if target.suffix == ".gz" else ""
    if fmt == "jsonl":
        lines = jsonl_lines(source)
        last = f"(select coalesce(max(_row), 0) + 1 from {lines})"
        query = (
            f"select {_patched_line(patch, json_text)} as line "
            f"from range(1, {last}) r(n) left join {lines} l on l._row = r.n order by r.n"
        )
        options = f"format csv, header false, quote '', escape '', delimiter '\x01'{options}"
    else:
        records = csv_records(source) if fmt == "csv" else parquet_records(source)
        present = relation_columns(con, records)
        replaced = [
            f"{_patched(column_text(f, present[f]), sub, 'value')} as {quote_name(f)}"
            if isinstance(sub, dict)
            else f"null::{present[f]} as {quote_name(f)}"
            for f, sub in patch.items()
            if f in present
        ]
        replace = f" replace ({', '.join(replaced)})" if replaced else ""
        query = f"select * exclude (_row){replace} from {records} order by _row"
        options = f"format {fmt}{', header true' if fmt == 'csv' else ''}{options}"
    con.execute(f"copy ({query}) to {sql_string(str(target))} ({options})")
    con.close()


# ---------------------------------------------------------------------------------------------------------------
# SQL helpers shared by the log kinds

PROVIDER_IDS: dict[str, str] = {
    **PROVIDERS,
    "bedrock": "aws",
    "bedrock_converse": "aws",
    "amazon_bedrock": "aws",
    "azure_ai": "azure",
    "azure_text": "azure",
    "text-completion-openai": "openai",
    "vertex_ai_beta": "google",
    "google_vertexai": "google",
    "google_genai": "google",
    "mistralai": "mistral",
    "codestral": "mistral",
    "together_ai": "together",
    "fireworks_ai": "fireworks",
    "cohere_chat": "cohere",
    "voyage": "voyageai",
    "moonshot": "moonshotai",
}
"""Provider names of LiteLLM (`custom_llm_provider`), LangChain (`ls_provider`) and OTel → the price catalog's
provider ids; a name not listed is kept, lower-cased."""

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


def provider_id(expr: str) -> str:
    """SQL normalising a provider name to the price catalog's id."""
    cases = " ".join(f"when {sql_string(k)} then {sql_string(v)}" for k, v in PROVIDER_IDS.items())
    return f"case lower(trim({expr})) {cases} else lower(trim({expr})) end"


def counts_text(exprs: Sequence[str], plus: int = 0) -> str:
    """SQL for the sum of count texts, plus `plus`, as text; null when every part is null. A part that is not a
    number is returned as it is, so that the validator rejects the column showing it (a fraction still fails there
    as not a whole number)."""
    numbers = [f"try_cast({e} as decimal(38, 10))" for e in exprs]
    bad = " ".join(f"when {e} is not null and {n} is null then {e}" for e, n in zip(exprs, numbers, strict=True))
    present = " or ".join(f"{e} is not null" for e in exprs)
    total = " + ".join(f"coalesce({n}, 0)" for n in numbers)
    return f"case {bad} when {present} then ({total} + {plus})::varchar end"


def latency_ms(start: str, end: str) -> str:
    """SQL for milliseconds from timestamp text `start` to `end`, null when either does not parse (text without a
    zone is read in the session's zone, UTC: the same for both, so the difference holds)."""
    return f"date_diff('microsecond', try_cast({start} as timestamptz), try_cast({end} as timestamptz)) / 1000"


# ---------------------------------------------------------------------------------------------------------------
# LiteLLM_SpendLogs

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
        reasoning_tokens=count(f"{_USAGE}.completion_tokens_details.reasoning_tokens"),
        request_count=f"case when {cached} then '0' else '1' end",
        status=f"case when {status} = 'failure' then 'error' when {status} = 'success' or {status} is null "
        f"then 'ok' else {status} end",
        attempt=counts_text([paths.first(["metadata.attempted_retries"])], plus=1),
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


LITELLM_SPENDLOGS = SourceKind(
    "litellm_spendlogs", "usage_events", read_litellm, USAGE_EVENT_CHECKS, redact=redact_spend_logs
)
