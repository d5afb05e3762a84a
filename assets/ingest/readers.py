"""File readers shared by the source kinds: CSV, JSON Lines and Parquet files as DuckDB relations of text.

Each reader gives the SQL of a relation over one file with `_row`, the 1-based record number in that file. A
kind projects it onto its target schema with `project` and stacks the files with `create_view`: every record
of every file is one row of the view, and a record the kind already knows is broken says why in `_error`
(see `assets.ingest.validate`). Views take no bound parameters, so file names and JSON paths enter the SQL as
quoted literals (`sql_string`).

Record numbers come from `WITH ORDINALITY` on the file scan, which DuckDB plans as a streaming window over one
ordered scan: rows are numbered in file order, and a file is read by one thread while memory stays bounded.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from assets.ingest.options import check_renamed
from assets.schemas import Column

Reader = Callable[[duckdb.DuckDBPyConnection, list[Path], str, Mapping[str, Any]], None]
"""`read(con, files, view, options)` of a source kind (`assets.ingest.base.SourceKind`)."""

MAX_LINE_BYTES = 256 * 1024 * 1024
"""Longest JSON line accepted: a collector's file exporter writes a whole batch of spans as one line."""

MALFORMED_JSON = "malformed JSON"
NOT_AN_OBJECT = "not a JSON object"
MISSING_COLUMN = "required column missing from file"

_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}

_HAS_ZONE = r"\d:\d\d(:\d\d(\.\d*)?)?\s*([zZ]|[+-]\d\d(:?\d\d)?)\s*$"
"""A time of day followed by a zone designator (`Z`, `+02`, `-05:30`): such text already names its instant."""

_SLASH_FORMATS = [f"{d} {t}".strip() for d in ("%m/%d/%y", "%m/%d/%Y") for t in ("%H:%M:%S", "%H:%M", "")]
"""US dates as in the FOCUS spec's SaaS examples (`4/1/25`); two-digit years first (`%Y` reads `25` as 25 AD)."""


class UnreadableFile(ValueError):
    """A file whose content a kind cannot read at all (a CUR without its line item type column): staging quarantines
    it whole, as it does a file DuckDB cannot parse, and goes on with the other files."""


def sql_string(value: str) -> str:
    """`value` as a SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def quote_name(name: str) -> str:
    """`name` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def file_format(path: Path) -> str:
    """`csv`, `jsonl` or `parquet` from the file name; a trailing `.gz` is compression, not format."""
    suffixes = [s.lower() for s in path.suffixes]
    gzipped = suffixes[-1:] == [".gz"]
    fmt = _FORMATS.get(suffixes[-2 if gzipped else -1]) if len(suffixes) > gzipped else None
    if fmt is None or (gzipped and fmt == "parquet"):
        raise ValueError(f"{path}: not a .csv[.gz], .jsonl[.gz] or .parquet file name")
    return fmt


def csv_records(path: Path) -> str:
    """Every data row of a CSV file (optionally gzipped), all columns as text named by the header.

    All-text keeps ids like `011111111111` intact; the literal `NULL` (FOCUS 1.0 sample) is a null; DuckDB
    skips a UTF-8 BOM before the header. A row with fewer fields than the header gets nulls for the missing ones
    (some exporters drop trailing empty fields); a file that is otherwise not well-formed CSV fails the read, which
    quarantines it whole, naming the line.
    """
    scan = (
        f"read_csv({sql_string(str(path))}, header = true, all_varchar = true, "
        "delim = ',', quote = '\"', escape = '\"', nullstr = ['NULL', ''], null_padding = true)"
    )
    return f"(select * exclude (ordinality), ordinality as _row from {scan} with ordinality)"


def csv_header(path: Path) -> list[str]:
    """The column names of a CSV file's first record (optionally gzipped; UTF-8 with or without a BOM), parsed by
    the declared dialect (comma, double quote doubled to escape); a file that has none is `UnreadableFile`."""
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle), None)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UnreadableFile(f"{path.name}: cannot read the header ({exc})") from None
    if not header:
        raise UnreadableFile(f"{path.name}: no header line")
    return header


def declared_csv_records(path: Path) -> str:
    """`csv_records` of a bill CSV read by a declared dialect, without DuckDB's sniffer (which can fail on a file of
    a few rows: "Error when sniffing file"): comma-separated, `"` quotes doubled to escape, one header line whose
    names `csv_header` reads, UTF-8 with or without a BOM, every column text, `NULL` and empty as null, short rows
    padded with nulls. Quoted fields may hold line breaks (JSON in `AdditionalInfo`), which DuckDB reads only
    with null padding in one thread."""
    columns = "{" + ", ".join(f"{sql_string(name)}: 'VARCHAR'" for name in csv_header(path)) + "}"
    scan = (
        f"read_csv({sql_string(str(path))}, auto_detect = false, header = true, columns = {columns}, "
        "delim = ',', quote = '\"', escape = '\"', nullstr = ['NULL', ''], null_padding = true, parallel = false)"
    )
    return f"(select * exclude (ordinality), ordinality as _row from {scan} with ordinality)"


def holds_json_array(path: Path) -> bool:
    """Whether a file (optionally gzipped) that should be JSON Lines is one JSON array instead (a log downloaded from
    a console: `[{…}, {…}]`, often pretty-printed over many lines): its first non-blank character is `[`."""
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rb") as stream:
            head = stream.read(4096)
    except (OSError, EOFError):
        return False
    return head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"["


def jsonl_lines(path: Path) -> str:
    """`(line, _row)`: each line of a JSON Lines file (optionally gzipped) as raw text, with its line number.

    The file is scanned as one-column CSV without quoting, so a malformed line is still a row. The column
    separator is NUL, which JSON text cannot contain: a line that has one anyway is cut there, which leaves it
    malformed rather than lost. Empty lines hold no record and are skipped; the others keep their numbers.
    One buffer of `MAX_LINE_BYTES` per file: the parallel reader would allocate 16 of them for a gzipped file.

    A file that is one JSON array (`holds_json_array`) is read as its elements instead, one record each, numbered
    from 1 in array order: a broken array cannot be split into records, so it fails the read and is quarantined
    once as an unreadable file, not once per line.
    """
    if holds_json_array(path):
        elements = (
            f"read_json({sql_string(str(path))}, format = 'array', records = false, columns = {{'json': 'JSON'}}, "
            f"maximum_object_size = {MAX_LINE_BYTES})"
        )
        return f"(select json::varchar as line, ordinality as _row from {elements} with ordinality)"
    scan = (
        f"read_csv({sql_string(str(path))}, columns = {{'line': 'VARCHAR'}}, header = false, "
        "auto_detect = false, delim = chr(0), quote = '', escape = '', comment = '', strict_mode = false, "
        f"parallel = false, max_line_size = {MAX_LINE_BYTES}, buffer_size = {MAX_LINE_BYTES + 1})"
    )
    return f"(select line, ordinality as _row from {scan} with ordinality where line is not null)"


def parquet_records(path: Path) -> str:
    """Every row of a Parquet file with its typed columns and its 1-based row number."""
    scan = f"read_parquet({sql_string(str(path))}, file_row_number = true)"
    return f"(select * exclude (file_row_number), file_row_number + 1 as _row from {scan})"


def relation_columns(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    """Column name → DuckDB type of a relation (reads a file's header or metadata, not its rows)."""
    return {row[0]: row[1] for row in con.execute(f"describe select * from {relation}").fetchall()}


_EXACT_INTO: dict[str, frozenset[str]] = {
    "BIGINT": frozenset({"BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UINTEGER", "USMALLINT", "UTINYINT"}),
    "INTEGER": frozenset({"INTEGER", "SMALLINT", "TINYINT", "USMALLINT", "UTINYINT"}),
    "UBIGINT": frozenset({"UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT"}),
    "DOUBLE": frozenset({"DOUBLE", "FLOAT"}),
    "TIMESTAMPTZ": frozenset({"TIMESTAMP WITH TIME ZONE"}),
}
"""Parquet column types that convert to a staging type without loss (and without going through text)."""

_NAIVE_TIMESTAMPS = frozenset({"TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS"})


@dataclass(frozen=True)
class Typed:
    """An expression already of its column's staging type: `project` passes it through instead of writing it as
    text for the validator to parse back (the fast path for Parquet files whose types match the schema)."""

    sql: str


def typed_column(name: str, type_: str, target: str) -> Typed | None:
    """A Parquet column of DuckDB type `type_` as the staging type `target`, when that conversion is exact (an
    INTEGER into BIGINT, a zone-less timestamp read as UTC); None when the value has to go through text."""
    column = quote_name(name)
    if target == "TIMESTAMPTZ" and type_ in _NAIVE_TIMESTAMPS:
        return Typed(f"timezone('UTC', {column}::timestamp)")
    if type_ in _EXACT_INTO.get(target, ()):
        return Typed(f"{column}::{target}")
    return None


def column_text(name: str, type_: str) -> str:
    """SQL for a typed column as text: nested values (a Parquet MAP of tags) as JSON, scalars as text."""
    column = quote_name(name)
    if type_ == "VARCHAR":
        return column
    if type_.startswith(("MAP", "STRUCT")) or type_.endswith("]"):
        return f"to_json({column})::varchar"
    return f"{column}::varchar"


def utc_text(expr: str) -> str:
    """SQL normalising timestamp text: text without a zone is UTC (the FOCUS 1.0 sample writes
    `2024-10-01 00:00:00`, Parquet may hold zone-less timestamps) and US dates (`4/1/25`) are parsed, both
    written as ISO 8601 with `Z`; text with a zone, or that does not parse, is kept for the validator."""
    formats = "[" + ", ".join(sql_string(f) for f in _SLASH_FORMATS) + "]"
    # only text with a slash can be a US date: skip the format list (costly per row) for the rest
    parsed = (
        f"coalesce(case when contains({expr}, '/') then try_strptime({expr}, {formats}) end, "
        f"try_cast({expr} as timestamp))"
    )
    return (
        f"case when regexp_matches({expr}, {sql_string(_HAS_ZONE)}) then {expr} "
        f"else coalesce(strftime({parsed}, '%Y-%m-%dT%H:%M:%S.%fZ'), {expr}) end"
    )


def json_error(value: str, line: str) -> str:
    """SQL for why a line holds no record: `value` is what a `try(...)` JSON function made of the text `line`,
    null only when the text is not JSON."""
    return (
        f"case when {value} is null then {sql_string(MALFORMED_JSON)} "
        f"when left(ltrim({line}), 1) <> '{{' then {sql_string(NOT_AN_OBJECT)} end"
    )


def json_pointer(key: str) -> str:
    """The JSON pointer of a top-level key (RFC 6901 escapes), so keys with dots or slashes work."""
    return "/" + key.replace("~", "~0").replace("/", "~1")


def json_records(lines: str, pointers: list[str]) -> str:
    """`(_row, _v, _error)` over a `jsonl_lines` relation: `_v` lists the values at the JSON `pointers` as
    text, from one `json_extract_string` call so that each line is parsed once."""
    listed = "[" + ", ".join(sql_string(p) for p in pointers) + "]"
    parsed = f"(select _row, line, try(json_extract_string(line, {listed})) as _v from {lines})"
    return f"(select _row, _v, {json_error('_v', 'line')} as _error from {parsed})"


def project(
    path: Path,
    relation: str,
    schema: list[Column],
    exprs: Mapping[str, str | Typed | None],
    *,
    error: str = "null",
) -> str:
    """SELECT of one file's rows as the text columns of `schema`, from SQL expressions over `relation`.

    `exprs` maps a schema column to its expression, or to None (or nothing) when the file lacks it. A file
    lacking a required column still yields its rows, with `_error` "required column missing from file" and
    the column in `_error_column`; otherwise `_error` is the SQL `error` (a reason per row, or null).
    Timestamp columns go through `utc_text`; a `Typed` expression is kept in its type.
    """
    missing = [c.name for c in schema if c.required and exprs.get(c.name) is None]
    error_column = "null"
    if missing:
        error, error_column = sql_string(MISSING_COLUMN), sql_string(missing[0])
    texts = []
    for column in schema:
        expr = exprs.get(column.name)
        if isinstance(expr, Typed):
            texts.append(f"{expr.sql} as {quote_name(column.name)}")
            continue
        if expr is None:
            expr = "null"
        elif column.type == "TIMESTAMPTZ":
            expr = utc_text(expr)
        texts.append(f"({expr})::varchar as {quote_name(column.name)}")
    return (
        f"select {', '.join(texts)}, {sql_string(str(path))} as _file, _row::bigint as _row, "
        f"({error})::varchar as _error, ({error_column})::varchar as _error_column from {relation}"
    )


def create_view(con: duckdb.DuckDBPyConnection, view: str, schema: list[Column], selects: list[str]) -> None:
    """Create the temp view `view` stacking one `project` SELECT per file (an empty view for no files)."""
    if not selects:
        selects = [project(Path(), "(select null::bigint as _row where false)", schema, {})]
    con.execute(f"create or replace temp view {quote_name(view)} as " + "\nunion all\n".join(selects))


def canonical_select(
    con: duckdb.DuckDBPyConnection, path: Path, schema: list[Column], fields: Mapping[str, str]
) -> str:
    """One file in the canonical layout of `schema` (CSV, JSON Lines or Parquet whose column names are the
    schema's) as a `project` SELECT. `fields` renames: schema column → the file's name for it."""
    names = {c.name: fields.get(c.name, c.name) for c in schema}
    fmt = file_format(path)
    if fmt == "jsonl":
        relation = json_records(jsonl_lines(path), [json_pointer(key) for key in names.values()])
        exprs = {column: f"_v[{i}]" for i, column in enumerate(names, start=1)}
        return project(path, relation, schema, exprs, error="_error")
    relation = csv_records(path) if fmt == "csv" else parquet_records(path)
    present = relation_columns(con, relation)
    types = {c.name: c.type for c in schema}
    exprs: dict[str, str | Typed | None] = {
        c: (typed_column(key, present[key], types[c]) or column_text(key, present[key])) if key in present else None
        for c, key in names.items()
    }
    return project(path, relation, schema, exprs)


def canonical_reader(schema: list[Column], formats: frozenset[str]) -> Reader:
    """A `read` for files in the canonical layout of `schema`, in any of the file `formats`; option `fields`
    renames columns (`assets.ingest.options.CanonicalOptions`), e.g. `{"team": "team_name"}`."""

    def read(con: duckdb.DuckDBPyConnection, files: list[Path], view: str, options: Mapping[str, Any]) -> None:
        fields: Mapping[str, str] = options.get("fields") or {}
        check_renamed(schema, fields)
        selects = []
        for path in files:
            if file_format(path) not in formats:
                raise ValueError(f"{path}: expected a {' or '.join(sorted(formats))} file")
            selects.append(canonical_select(con, path, schema, fields))
        create_view(con, view, schema, selects)

    return read
