"""Rows in counted apart from the parse (`assets.ingest.counts`): equal to what the readers parse on every real
sample export, and different where a reader drops a record."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from assets.ingest.counts import rows_by_file_type
from assets.ingest.readers import csv_records, parquet_records
from assets.sql import connect
from tests.samples import sample_files


@pytest.mark.parametrize("path", sample_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_sample_export_counts_the_rows_its_reader_parses(path: Path) -> None:
    with connect() as con:
        counted = rows_by_file_type(con, path)
        if path.suffix == ".json":
            assert counted is None  # a manifest: no records apart from the parse
            return
        reader = parquet_records if path.suffix == ".parquet" else csv_records
        parsed = con.execute(f"select count(*) from {reader(path)}").fetchall()[0][0]
    assert counted == parsed > 0


def test_text_lines_are_counted_gzipped_without_final_newline_and_past_blank_lines(tmp_path: Path) -> None:
    text = "a,b\r\n1,2\r\n\r\n3,4\r\n#5,6\r\n7,8"
    (tmp_path / "x.csv.gz").write_bytes(gzip.compress(text.encode()))
    (tmp_path / "x.jsonl").write_text('{"a": 1}\n\n{"a": 2}\nnot json\n')
    with connect() as con:
        assert rows_by_file_type(con, tmp_path / "x.csv.gz") == 4
        assert rows_by_file_type(con, tmp_path / "x.jsonl") == 3
        assert rows_by_file_type(con, tmp_path / "page.json") is None
