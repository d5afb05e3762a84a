"""What the log kinds (`litellm_spendlogs`, `langfuse_observations`, `bedrock_invocation_logs`) share: the field
paths with which they read their configurable columns out of a record and SQL helpers for providers, counts and
latencies (their redacted raw copies: `assets.ingest.redact`).

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

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import duckdb
from pydantic import Field, field_validator

from assets.ingest.options import KindOptions
from assets.ingest.otlp import PROVIDERS
from assets.ingest.readers import (
    MISSING_COLUMN,
    column_text,
    csv_records,
    json_pointer,
    json_records,
    jsonl_lines,
    parquet_records,
    project,
    relation_columns,
    sql_string,
)
from assets.schemas import USAGE_EVENTS, Column

# ---------------------------------------------------------------------------------------------------------------
# Field paths, shared by the log kinds

_BARE = r"[A-Za-z0-9_@$#:/+=,\-]+"
_QUOTED = r'"(?:[^"]|"")+"'
_SEGMENT = rf"(?:{_BARE}|{_QUOTED})"
_PATH = re.compile(rf'(?P<steps>{_SEGMENT}(?:\.{_SEGMENT})*)(?:\[(?P<prefix>[^\[\]*"]*)\*\])?')
_STEPS = re.compile(rf'(?:^|\.)(?:"(?P<quoted>(?:[^"]|"")+)"|(?P<bare>{_BARE}))')

FIELD_COLUMNS = (
    *(c.name for c in USAGE_EVENTS if c.type == "VARCHAR" and c.name not in ("status", "model_ref", "usage_flag")),
    "attempt",
)
"""Columns option `fields` may set: the text columns, and `attempt` (a log that carries the try number in its own
metadata; cast and checked like any `attempt`: a whole number, 1 for a first try). `status` is normalised from each
source's own codes; token counts and times are read from fixed places; `model_ref` and `usage_flag` are set by
staging."""


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
# Provider and model from the model name, for every usage kind

_VERTEX = re.compile(
    r"(?:projects/[^/]+/(?:locations/[^/]+/)?(?:publishers/[^/]+/)?|publishers/[^/]+/)models/(?P<model>[^/]+)"
)
"""A Vertex AI model resource name (`projects/p/locations/l/publishers/google/models/gemini-2.5-flash`,
`publishers/anthropic/models/claude-3-5-sonnet@20240620`, `projects/p/locations/l/models/gemini-2.5-flash`): Google
serves it, whoever published it, and the price catalog knows it by its last part."""

_BEDROCK_ARN = re.compile(r"arn:aws[a-z-]*:bedrock:[^:]*:[^:]*:(?P<type>[a-z-]+)/(?P<id>.+)")
_BEDROCK_ARN_MODELS = frozenset({"foundation-model", "inference-profile"})
"""ARN resource types whose id is a Bedrock model id; others (application inference profiles, provisioned or custom
models) keep the whole ARN, which `aliases` in the prices file price as a foundation model."""

_BEDROCK_ID = re.compile(r"(?:[a-z]{2,7}\.)?[a-z][a-z0-9]*\.[a-z0-9][a-z0-9.\-]*(?:-v\d+(?::\d+)?|:\d+)")
"""The shape of a Bedrock model id, `<vendor>.<model>-v<n>[:<m>]` with an optional cross-region prefix
(`anthropic.claude-3-5-sonnet-20240620-v1:0`, `us.anthropic.claude-3-7-sonnet-20250219-v1:0`,
`cohere.embed-english-v3`): served by AWS, priced by the catalog's `aws` models."""


@dataclass(frozen=True)
class ModelName:
    """What a model name says: the provider it names (None when it names none) and the model as the price catalog
    knows it (`model` unchanged when no resource path or prefix had to be taken off)."""

    provider: str | None
    model: str


def _prefix_provider(prefix: str) -> str | None:
    """The catalog id of a `provider/model` prefix: a known writer's name, else genai-prices' provider matching."""
    from genai_prices.data_snapshot import find_provider_by_id, get_snapshot

    name = prefix.strip().lower()
    if name in PROVIDER_IDS:
        return PROVIDER_IDS[name]
    found = find_provider_by_id(get_snapshot().providers, name) if name else None
    return found.id if found else None


def read_model_name(model: str) -> ModelName:
    """The provider a model name names by its form — a Vertex resource path, a Bedrock ARN or model id, a
    `provider/model` prefix — and the model without the path or prefix. A bare name names no provider."""
    text = model.strip()
    if vertex := _VERTEX.fullmatch(text):
        return ModelName("google", vertex["model"])
    if arn := _BEDROCK_ARN.fullmatch(text):
        return ModelName("aws", arn["id"] if arn["type"] in _BEDROCK_ARN_MODELS else text)
    if _BEDROCK_ID.fullmatch(text.lower()):
        return ModelName("aws", text)
    prefix, slash, rest = text.partition("/")
    if slash and rest and (provider := _prefix_provider(prefix)):
        inner = read_model_name(rest)
        return ModelName(provider, inner.model if inner.provider in (None, provider) else rest)
    return ModelName(None, text)


def catalog_provider(model: str) -> str | None:
    """The provider genai-prices finds for a bare model name: the provider whose own model matching claims it
    (`claude-…` → anthropic), else the one provider that lists it among its own models, a provider that resells
    another's models (Azure, OpenAI's) giving way to the one it resells. None when no provider, or several, have it."""
    from genai_prices.data_snapshot import get_snapshot

    snapshot = get_snapshot()
    try:
        return snapshot.find_provider(model.lower(), None, None).id
    except LookupError:
        pass
    listing = [p for p in snapshot.providers if p.find_model(model) is not None]
    ids = {p.id for p in listing}
    origins = [p.id for p in listing if not ids & set(p.fallback_model_providers or ())]
    return origins[0] if len(origins) == 1 else None


def resolve_model(provider: str | None, model: str, fallback: str | None) -> ModelName:
    """The provider and catalog model of a call: the provider the record gives, else the one its model name names
    by its form, else the source's `fallback` (option `provider`), else the catalog's match for the name. The model
    loses a resource path, and a prefix naming the provider it ends with (`openai/gpt-4o` from OpenAI, not
    `anthropic/claude-3.5-sonnet` from OpenRouter)."""
    named = read_model_name(model)
    if provider is not None:
        resource = _VERTEX.fullmatch(model.strip()) or _BEDROCK_ARN.fullmatch(model.strip())
        return ModelName(provider, named.model if resource or named.provider in (None, provider) else model)
    chosen = named.provider or (fallback and provider_catalog_id(fallback)) or catalog_provider(named.model)
    return ModelName(chosen, named.model)


def check_provider_option(options: Mapping[str, Any]) -> None:
    """Refuse an option `provider` that is not a provider name."""
    fallback = options.get("provider")
    if fallback is not None and not (isinstance(fallback, str) and fallback.strip()):
        raise ValueError("options.provider: expected a provider id such as openai")


class LogOptions(KindOptions):
    """The options of a log kind: `fields` (column → path or list of paths, replacing the kind's `defaults` per
    column, checked as `configured_paths` does) and `provider` (the provider of a call whose record names none)."""

    defaults: ClassVar[Mapping[str, Sequence[str]]]
    content: ClassVar[Collection[tuple[str, ...]]]
    fields: dict[str, Any] = Field(default_factory=dict)
    provider: str | None = None

    @field_validator("fields")
    @classmethod
    def _paths(cls, fields: dict[str, Any]) -> dict[str, Any]:
        configured_paths({"fields": fields}, cls.defaults, cls.content)
        return fields

    @field_validator("provider")
    @classmethod
    def _provider(cls, provider: str | None) -> str | None:
        check_provider_option({"provider": provider})
        return provider


def provider_catalog_id(name: str) -> str:
    """A provider name normalised as `provider_id` does in SQL."""
    key = name.strip().lower()
    return PROVIDER_IDS.get(key, key)


def resolve_providers(con: duckdb.DuckDBPyConnection, table: str, fallback: str | None) -> None:
    """Give the calls of the typed usage table `table` (`assets.ingest.validate.cast_table`) their provider and
    catalog model where the record left the provider out or wrote the model as a resource path or with a prefix
    (`resolve_model`); the name as written is kept in `model_ref`. The distinct (provider, model) pairs are resolved
    once each and joined back in one update; a call left without a provider is rejected naming its model."""
    pairs = con.execute(
        f"select distinct provider, model from {table} where _failure is null and model is not null"
    ).fetchall()
    changes = []
    for provider, model in pairs:
        resolved = resolve_model(provider, model, fallback)
        if resolved != ModelName(provider, model):
            changes.append((provider, model, resolved.provider, resolved.model))
    if changes:
        con.execute(
            "create or replace temp table model_resolution "
            "(provider varchar, model varchar, to_provider varchar, to_model varchar)"
        )
        con.executemany("insert into model_resolution values (?, ?, ?, ?)", changes)
        con.execute(
            f"update {table} t set provider = r.to_provider, model = r.to_model, "
            "model_ref = case when r.to_model <> t.model then t.model else t.model_ref end "
            "from model_resolution r where t._failure is null and t.model = r.model "
            "and t.provider is not distinct from r.provider"
        )
    if fallback:
        con.execute(
            f"update {table} set provider = $provider where _failure is null and provider is null and model is null",
            {"provider": provider_catalog_id(fallback)},
        )
    con.execute(
        f"update {table} set _failure = struct_pack(col := 'provider', why := case when model is null "
        "then 'provider unknown: the record names no provider and no model' else 'provider unknown: the record "
        "names none, the source has no option provider and the price catalog matches none for model ' || model "
        "end, val := left(model, 200)) where _failure is null and provider is null"
    )
