"""Redacted raw copies for sources that can carry prompt or response text: the one place that decides what is
message content and removes it.

Raw keeps what a source delivered so any day can be recomputed, but apportion never stores prompt or response
text. A kind whose files may hold text lands a copy with that text removed instead of the bytes as delivered;
everything apportion reads stays.

- OTLP spans (`redact_otlp_json`): attributes whose key is content (`CONTENT_KEYS`, `is_content_key`) are dropped
  wherever an `attributes` list appears (resource, scope, span, event, link). The stream is handled line by line,
  one export request (a batch of spans) at a time, never as a whole file in memory. The same predicate refuses an
  `attributes` option of `otlp_json` that names content.
- Log records (`redact_copy`: LiteLLM, Langfuse, Bedrock): the kind names the fields holding content; they are
  removed in one streaming DuckDB pass by a JSON merge patch.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import IO, Any

import duckdb

from assets.ingest.readers import (
    column_text,
    csv_records,
    json_pointer,
    jsonl_lines,
    parquet_records,
    quote_name,
    relation_columns,
    sql_string,
)
from assets.sql import connect

CONTENT_KEYS = (
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "gen_ai.tool.definitions",
    "gen_ai.prompt",
    "gen_ai.completion",
    "input.value",
    "output.value",
    "llm.input_messages",
    "llm.output_messages",
)
"""Attribute keys that hold message text in GenAI telemetry, each also as a prefix (`gen_ai.prompt.0.content`,
older instrumentations): OTel GenAI semconv, OpenLLMetry / OpenLIT (`gen_ai.prompt`), OpenInference
(`input.value`, `llm.input_messages`)."""


def is_content_key(key: str) -> bool:
    """Whether an attribute with this key carries prompt or response text (see `CONTENT_KEYS`)."""
    return any(key == k or key.startswith(k + ".") for k in CONTENT_KEYS)


def _strip(node: Any) -> Any:
    """The node without content attributes anywhere (span and resource attributes, span events' attributes)."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "attributes" and isinstance(value, list):
                value = [a for a in value if not (isinstance(a, dict) and is_content_key(str(a.get("key", ""))))]
            out[key] = _strip(value)
        return out
    if isinstance(node, list):
        return [_strip(item) for item in node]
    return node


def _open(path: Path, mode: str) -> IO[bytes]:
    return gzip.open(path, mode) if path.suffix == ".gz" else path.open(mode)  # type: ignore[return-value]


def redact_otlp_json(source: Path, target: Path) -> None:
    """Copy OTLP JSON lines from `source` to `target` without message content. A line that is not JSON cannot be
    inspected, so it is replaced by a line that says so (still not JSON: it is quarantined as malformed, as the
    original would have been); blank lines stay as they are, so line numbers keep pointing at the same records."""
    with _open(source, "rb") as reader, _open(target, "wb") as writer:
        for line in reader:
            text = line.strip()
            if not text:
                writer.write(line if line.endswith(b"\n") else line + b"\n")
                continue
            try:
                request = json.loads(text)
            except (ValueError, UnicodeDecodeError):
                digest = hashlib.sha256(text).hexdigest()[:16]
                writer.write(f"<redacted line that was not JSON: {len(text)} bytes, sha256 {digest}>\n".encode())
                continue
            writer.write(json.dumps(_strip(request), separators=(",", ":"), ensure_ascii=False).encode() + b"\n")


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


UNREADABLE_COPY = b"\xff<not kept: the file could not be read, so its prompt text could not be removed>\n"
"""The raw copy of a log file that cannot be read: none of its bytes (which may hold prompt text), and not readable
either (not UTF-8, not gzip, not Parquet), so that staging quarantines it whole as it would have the original."""


def redact_copy(
    source: Path, target: Path, fmt: str, content: Collection[tuple[str, ...]], json_text: Collection[str] = ()
) -> None:
    """Copy a log file (`fmt` csv, jsonl or parquet; gzipped when `target` ends in `.gz`) to `target` without the
    values at the `content` paths, in one streaming DuckDB pass. Records keep their numbers: a JSON Lines copy keeps
    blank lines, a CSV or Parquet copy keeps its rows in order with content columns null (a JSON text column is
    patched inside). A file that cannot be read is copied as `UNREADABLE_COPY`."""
    con = connect(keep_order=True)
    try:
        con.execute(_redacting_copy(con, source, target, fmt, content_patch(content), json_text))
    except duckdb.Error:
        target.write_bytes(UNREADABLE_COPY)
    finally:
        con.close()


def _redacting_copy(
    con: duckdb.DuckDBPyConnection,
    source: Path,
    target: Path,
    fmt: str,
    patch: Mapping[str, Any],
    json_text: Collection[str],
) -> str:
    """The COPY statement of `redact_copy`."""
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
    return f"copy ({query}) to {sql_string(str(target))} ({options})"
