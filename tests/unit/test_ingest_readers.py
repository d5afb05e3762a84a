"""The shared file readers and the validator's reader-given `_error`, on a real in-memory DuckDB.

`stage` (read a kind's files, then cast or reject) is used by every `test_ingest_*` module.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from assets.ingest.base import SourceKind
from assets.ingest.readers import csv_records, file_format, utc_text
from assets.ingest.records import resolve_providers
from assets.ingest.validate import cast_or_reject
from assets.schemas import COST_LINES, USAGE_EVENTS, USAGE_METRICS, Column
from assets.sql import connect

SCHEMAS: dict[str, list[Column]] = {
    "cost_lines": COST_LINES,
    "usage_events": USAGE_EVENTS,
    "usage_metrics": USAGE_METRICS,
}


def rows(con, sql: str) -> list[dict]:
    """Rows of a query as dicts."""
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def stage(
    kind: SourceKind, files: list[Path], options: Mapping[str, Any] | None = None
) -> tuple[list[dict], list[dict]]:
    """(staged rows, quarantined rows as file/row/column/reason) of a kind's `files`, ordered by file and
    row, after checking that rows in = rows staged + rows quarantined."""
    con = connect()
    kind.read(con, files, "raw", options or {})
    staged, rejected = cast_or_reject(
        con, "raw", SCHEMAS[kind.target], out_prefix="t", date_expr="null::date", checks=kind.checks
    )
    if kind.target == "usage_events":
        resolve_providers(con, "t_typed", (options or {}).get("provider"))
    rows_in = con.execute("select count(*) from raw").fetchall()[0][0]
    good = rows(con, f"select * from {staged} order by _file, _row")
    bad = rows(
        con,
        "select source_file as file, source_row as row, column_name as column, reason "
        f"from {rejected} order by file, row",
    )
    assert rows_in == len(good) + len(bad)
    return good, bad


def test_reader_error_rejects_the_row_with_its_reason_and_column_before_any_cast() -> None:
    con = connect()
    con.execute(
        """
        create temp view raw as select * from (values
            ('f', 1::bigint, '2026-01-01T00:00:00Z', 'openai', '5', null, null),
            ('f', 2::bigint, null, null, '-1', 'malformed JSON', null),
            ('f', 3::bigint, '2026-01-01T00:00:00Z', 'openai', 'x', 'tokens unreadable', 'input_tokens')
        ) t(_file, _row, event_time, provider, input_tokens, _error, _error_column)
        """
    )
    staged, rejected = cast_or_reject(con, "raw", USAGE_EVENTS, out_prefix="t", date_expr="null::date")
    assert con.execute(f"select _row, input_tokens from {staged}").fetchall() == [(1, 5)]
    assert sorted(con.execute(f"select source_row, column_name, reason, raw_value from {rejected}").fetchall()) == [
        (2, None, "malformed JSON", None),
        (3, "input_tokens", "tokens unreadable", None),
    ]


def test_counts_must_be_whole_numbers_and_are_never_rounded() -> None:
    con = connect()
    con.execute(
        """
        create temp view raw as select * from (values
            ('f', 1::bigint, '2026-01-01T00:00:00Z', 'openai', '12'),
            ('f', 2::bigint, '2026-01-01T00:00:00Z', 'openai', '12.5'),
            ('f', 3::bigint, '2026-01-01T00:00:00Z', 'openai', '12.00'),
            ('f', 4::bigint, '2026-01-01T00:00:00Z', 'openai', '15e-1'),
            ('f', 6::bigint, '2026-01-01T00:00:00Z', 'openai', '1e3'),
            ('f', 5::bigint, '2026-01-01T00:00:00Z', 'openai', '99999999999999999999')
        ) t(_file, _row, event_time, provider, input_tokens)
        """
    )
    staged, rejected = cast_or_reject(con, "raw", USAGE_EVENTS, out_prefix="t", date_expr="null::date")
    assert con.execute(f"select _row, input_tokens from {staged} order by _row").fetchall() == [
        (1, 12),
        (3, 12),
        (6, 1000),
    ]
    assert con.execute(f"select source_row, reason from {rejected} order by source_row").fetchall() == [
        (2, "not a valid bigint"),
        (4, "not a valid bigint"),
        (5, "not a valid bigint"),
    ]


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.csv", "csv"),
        ("a.CSV.gz", "csv"),
        ("a.jsonl", "jsonl"),
        ("a.2026-01-01.jsonl.gz", "jsonl"),
        ("a.ndjson", "jsonl"),
        ("a.parquet", "parquet"),
    ],
)
def test_file_format_comes_from_the_extension_ignoring_gzip(name: str, fmt: str) -> None:
    assert file_format(Path(name)) == fmt


@pytest.mark.parametrize("name", ["a.parquet.gz", "a.json", "a", "a.gz"])
def test_file_format_refuses_names_it_cannot_read(name: str) -> None:
    with pytest.raises(ValueError, match=r"not a \.csv"):
        file_format(Path(name))


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2024-10-01 00:00:00", "2024-10-01 00:00:00+00"),
        ("2024-10-01T00:00:00", "2024-10-01 00:00:00+00"),
        ("2024-10-01", "2024-10-01 00:00:00+00"),
        ("4/1/25", "2025-04-01 00:00:00+00"),
        ("04/01/2025 13:05", "2025-04-01 13:05:00+00"),
        ("2024-10-01T00:00:00Z", "2024-10-01 00:00:00+00"),
        ("2024-10-01T02:00:00+02:00", "2024-10-01 00:00:00+00"),
        ("2024-10-01 02:00:00+02", "2024-10-01 00:00:00+00"),
    ],
)
def test_timestamp_text_without_zone_is_utc_whatever_the_session_zone(text: str, instant: str) -> None:
    con = connect()
    con.execute("set timezone = 'Europe/Berlin'")
    normalised = utc_text("$t")
    got = con.execute(f"select timezone('UTC', ({normalised})::timestamptz)::varchar", {"t": text}).fetchall()
    assert got[0][0] == instant.removesuffix("+00")


def test_timestamp_text_that_does_not_parse_is_kept_for_the_validator() -> None:
    con = connect()
    assert con.execute(f"select {utc_text('$t')}", {"t": "yesterday-ish"}).fetchall() == [("yesterday-ish",)]


def test_a_csv_row_missing_its_trailing_fields_reads_them_as_nulls(tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    path.write_text("a,b,c\n1,2,3\n4,5\n")
    with connect() as con:
        rows = con.execute(f"select _row, a, b, c from {csv_records(path)} order by _row").fetchall()
    assert rows == [(1, "1", "2", "3"), (2, "4", "5", None)]
