"""How many records a file holds, counted apart from the kind's parse, so that "rows in = rows staged + rows
quarantined" can fail: a record the reader drops (a CSV line it takes for a comment, a short or padded line it
skips) is still counted in, and the file shows as unbalanced in `ingest_log`.

A kind declares its counter (`SourceKind.count_rows`); the default goes by file type: CSV and JSON Lines count
their non-empty text lines (minus the header for CSV), gzipped or not, with or without a final newline; Parquet
sums the row counts of its footer. Other files (a CUR or Azure manifest, an API page of JSON) hold no records to
count apart from the parse, and so does a kind whose records are a selection of a file's lines (GenAI spans of an
OTLP batch, model calls among Langfuse observations): for those the rows parsed are the rows in.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb

from assets.ingest.readers import jsonl_lines, sql_string

RowCounter = Callable[[duckdb.DuckDBPyConnection, Path], int | None]
"""`count(con, path)`: the records in a file, or None when they are the rows the parse gives."""


def text_lines(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """Non-empty lines of a CSV file (optionally gzipped), read as raw lines: no field is split, no quote read (a
    line is one NUL-separated column; an empty line is null). DuckDB's default buffer, as the CSV reader's: a line
    too long for it fails the parse too."""
    scan = (
        f"read_csv({sql_string(str(path))}, columns = {{'line': 'VARCHAR'}}, header = false, auto_detect = false, "
        "delim = chr(0), quote = '', escape = '', comment = '', strict_mode = false)"
    )
    return int(con.execute(f"select count(line) from {scan}").fetchall()[0][0])


def json_lines(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """Non-empty lines of a JSON Lines file (optionally gzipped), scanned as the JSON Lines readers scan it."""
    return int(con.execute(f"select count(*) from {jsonl_lines(path)}").fetchall()[0][0])


def parquet_rows(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """Rows of a Parquet file as its footer gives them (no column is read)."""
    query = f"select coalesce(sum(num_rows), 0) from parquet_file_metadata({sql_string(str(path))})"
    return int(con.execute(query).fetchall()[0][0])


def rows_by_file_type(con: duckdb.DuckDBPyConnection, path: Path) -> int | None:
    """The default counter: by the file's name, as `assets.ingest.readers.file_format` reads it."""
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".csv"):
        return max(text_lines(con, path) - 1, 0)
    if name.endswith((".jsonl", ".ndjson")):
        return json_lines(con, path)
    if name.endswith(".parquet") and not path.name.lower().endswith(".gz"):
        return parquet_rows(con, path)
    return None


def rows_as_parsed(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """For kinds whose records are a selection of a file's lines: the rows parsed are the rows in."""
    return None
