"""The parser fuzz suite's harness: a valid source file of a kind, mutated by hypothesis (values, fields, records,
bytes), landed and staged for one day through `land_day` and `stage_day`, then checked against what every kind
promises: no crash; rows in = rows staged + rows quarantined; every quarantine row names its file, its row (when the
file could be parsed) and its column (when the fault is in one) with a reason; staged money is finite; no count is
negative."""

from __future__ import annotations

import copy
import csv
import gzip
import io
import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from hypothesis import strategies as st

from assets.config import Settings, load_settings
from assets.ingest import SOURCE_KINDS
from assets.ingest.http_client import INCOMPLETE_PAGE_SET, NO_DATA_ARRAY
from assets.ingest.readers import MALFORMED_JSON, NOT_AN_OBJECT
from assets.lake import Lake
from assets.raw import land_day, manifest_files
from assets.schemas import USAGE_EVENTS
from assets.sql import connect
from assets.staging import stage_day

VALUES: list[Any] = [
    "abc",
    "",
    "  ",
    None,
    True,
    0,
    -1,
    -0.5,
    12.5,
    1e308,
    -1e308,
    10**40,
    -(10**40),
    2**63,
    float("nan"),
    float("inf"),
    float("-inf"),
    "NaN",
    "-Infinity",
    "1e400",
    "1,5",
    "１２",
    "2026-13-45T99:00:00Z",
    "café",
    [1, "x"],
    {"a": {"b": None}},
]
"""Replacement values: wrong types, huge, negative and non-finite numbers, empty and odd text, nested values."""

RECORD_OPS = ("set", "drop", "rename", "add", "duplicate", "reorder", "remove")
TEXT_BYTE_OPS = ("truncate", "bom", "latin1", "crlf", "duplicate_line")
BINARY_BYTE_OPS = ("truncate", "bom")

TOKEN_COLUMNS = tuple(c.name for c in USAGE_EVENTS if c.name.endswith("_tokens") or c.name == "request_count")


def _itself(document: Any) -> Any:
    return document


@dataclass(frozen=True)
class Case:
    """One kind in one file format: a valid `document` (records, or a page holding them) and where it goes.

    `file` is the data file under the case's folder (with `{date}`); `path` the source's configured path (default:
    `file`). `records` finds the list of records in the document. `layout(root, file)` writes what the kind reads beside
    the file (an export's manifest). `line_records`: every non-blank line of the file is one record (rows in = lines
    in)."""

    id: str
    kind: str
    fmt: str
    day: date
    document: Callable[[], Any]
    file: str
    path: str | None = None
    records: Callable[[Any], list] = _itself
    options: Mapping[str, Any] = field(default_factory=dict)
    schema: pa.Schema | None = None
    layout: Callable[[Path, Path], None] | None = None
    line_records: bool = False

    @property
    def columnar(self) -> bool:
        """One header for every record: fields are dropped, renamed and added for all records at once."""
        return self.fmt.startswith("csv") or self.fmt == "parquet"

    @property
    def gzipped(self) -> bool:
        return self.fmt.endswith(".gz")


# --- mutations ------------------------------------------------------------------------------------------------------


def _leaf_paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Paths (keys and indexes) to every value inside a record, nested ones included."""
    paths = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            paths += _leaf_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            paths += _leaf_paths(item, (*prefix, i))
    return paths


def _parent(record: Any, path: tuple) -> Any:
    for step in path[:-1]:
        record = record[step]
    return record


def mutate_records(data: st.DataObject, case: Case, records: list) -> None:
    """Apply up to three record mutations in place: a value replaced, a field dropped, renamed or added, a record
    duplicated, its fields reordered, or removed."""
    for op in data.draw(st.lists(st.sampled_from(RECORD_OPS), max_size=3), label="record ops"):
        dicts = [i for i, r in enumerate(records) if isinstance(r, dict) and r]
        if not dicts:
            return
        i = data.draw(st.sampled_from(dicts), label="record")
        record = records[i]
        targets = [r for r in records if isinstance(r, dict)] if case.columnar else [record]
        if op == "set":
            path = data.draw(st.sampled_from(_leaf_paths(record)), label="path")
            _parent(record, path)[path[-1]] = copy.deepcopy(data.draw(st.sampled_from(VALUES), label="value"))
        elif op in ("drop", "rename"):
            if case.columnar:
                key = data.draw(st.sampled_from(list(record)), label="field")
                path = (key,)
            else:
                path = data.draw(st.sampled_from([p for p in _leaf_paths(record) if isinstance(p[-1], str)]))
            new = data.draw(st.sampled_from(["x_renamed", path[-1].upper(), f" {path[-1]}", path[-1] + "\u00e9"]))
            for target in targets:
                parent = _parent(target, path) if _has(target, path) else None
                if isinstance(parent, dict) and path[-1] in parent:
                    value = parent.pop(path[-1])
                    if op == "rename":
                        parent[new] = value
        elif op == "add":
            value = data.draw(st.sampled_from(VALUES), label="value")
            for target in targets:
                target["extra"] = copy.deepcopy(value)
        elif op == "duplicate":
            records.insert(data.draw(st.integers(0, len(records))), copy.deepcopy(record))
        elif op == "reorder":
            order = data.draw(st.permutations(list(record)), label="order")
            for target in targets:
                target_items = {k: target[k] for k in order if k in target}
                target.clear()
                target.update(target_items)
        else:
            records.pop(i)


def _has(record: Any, path: tuple) -> bool:
    try:
        _parent(record, path)
    except (KeyError, IndexError, TypeError):
        return False
    return True


def mutate_bytes(data: st.DataObject, case: Case, payload: bytes) -> bytes:
    """Apply up to two byte-level faults to the (uncompressed) file: cut at a random byte, a UTF-8 BOM (garbage
    before a Parquet file), Latin-1 bytes, CRLF line ends, a line written twice."""
    ops = BINARY_BYTE_OPS if case.fmt == "parquet" else TEXT_BYTE_OPS
    for op in data.draw(st.lists(st.sampled_from(ops), max_size=2, unique=True), label="byte ops"):
        at = data.draw(st.integers(0, max(len(payload) - 1, 0)), label="at")
        if op == "truncate":
            payload = payload[:at]
        elif op == "bom":
            payload = b"\xef\xbb\xbf" + payload
        elif op == "latin1":
            payload = payload[:at] + "déjà vu".encode("latin-1") + payload[at:]
        elif op == "crlf":
            payload = payload.replace(b"\n", b"\r\n")
        else:
            lines = payload.split(b"\n")
            k = data.draw(st.integers(0, len(lines) - 1), label="line")
            payload = b"\n".join([*lines[: k + 1], lines[k], *lines[k + 1 :]])
    return payload


# --- files ----------------------------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value)


def _csv(records: list[dict]) -> bytes:
    columns = list(dict.fromkeys(k for r in records for k in r))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([_text(r.get(c)) for c in columns] for r in records)
    return out.getvalue().encode()


def _parquet(records: list[dict], schema: pa.Schema | None) -> bytes:
    """Records as Parquet: with the case's schema when they still fit it, else with inferred types, else with
    every value that is not text written as text (a column of mixed types)."""
    attempts = [lambda: pa.Table.from_pylist(records, schema=schema)] if schema is not None else []
    attempts.append(lambda: pa.Table.from_pylist(records))
    attempts.append(
        lambda: pa.Table.from_pylist([{k: None if v is None else _text(v) for k, v in r.items()} for r in records])
    )
    for attempt in attempts:
        try:
            table = attempt()
            break
        except (pa.ArrowException, OverflowError, TypeError, ValueError):
            continue
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def serialize(case: Case, document: Any) -> bytes:
    """The document as the bytes of a file of the case's format, before compression."""
    if case.fmt.startswith("csv"):
        return _csv(document)
    if case.fmt == "parquet":
        return _parquet(document, case.schema)
    if case.fmt == "json":
        return json.dumps(document, default=str, indent=1).encode()
    return b"".join(json.dumps(r, default=str).encode() + b"\n" for r in document)


def mutated_file(data: st.DataObject, case: Case) -> tuple[bytes, bytes]:
    """(the file's bytes as landed, its uncompressed content) after drawn mutations; a gzipped file may also be
    cut short after compression."""
    document = case.document()
    mutate_records(data, case, case.records(document))
    payload = mutate_bytes(data, case, serialize(case, document))
    if not case.gzipped:
        return payload, payload
    compressed = gzip.compress(payload, mtime=0)
    if data.draw(st.booleans(), label="cut gzip"):
        compressed = compressed[: data.draw(st.integers(0, len(compressed) - 1), label="gzip at")]
    return compressed, payload


# --- staging and checks ---------------------------------------------------------------------------------------------


def settings_for(case: Case, root: Path) -> Settings:
    """A config with just the case's source, writing its lake under `root`."""
    (root / "allocation.yaml").write_text("rules: []\n")
    source = {"name": "src", "kind": case.kind, "path": case.path or case.file, "options": dict(case.options)}
    (root / "apportion.yaml").write_text(
        yaml.safe_dump({"allocation": "allocation.yaml", "prices": None, "sources": [source]}, sort_keys=False)
    )
    return load_settings(root / "apportion.yaml")


def write_case_file(case: Case, root: Path, content: bytes) -> Path:
    path = root / case.file.replace("{date}", case.day.isoformat())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    if case.layout is not None:
        case.layout(root, path)
    os.utime(path, (946684800, 946684800))
    return path


def day_tables(settings: Settings, day: date, tables: tuple[str, ...]) -> dict[str, list[dict]]:
    """The day's rows of each staging table, as dicts (one connection for all)."""
    lake = Lake(settings.app.lake)
    out: dict[str, list[dict]] = {}
    with connect() as con:
        for table in tables:
            files = [str(f) for f in sorted(lake.partition_dir(table, day).glob("*.parquet"))]
            cursor = con.execute("select * from read_parquet($f)", {"f": files}) if files else None
            names = [d[0] for d in cursor.description] if cursor else []
            out[table] = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()] if cursor else []
    return out


def line_count(content: bytes) -> int:
    """Records of a JSON Lines file as every reader counts them: its lines that are not blank."""
    return sum(1 for line in content.removeprefix(b"\xef\xbb\xbf").split(b"\n") if line.rstrip(b"\r"))


def stage_and_check(case: Case, settings: Settings, path: Path, content: bytes) -> None:
    """Land and stage the case's day and check the invariants."""
    land_day(settings, case.day)
    stage_day(settings, case.day)
    target = SOURCE_KINDS[case.kind].target
    tables = day_tables(settings, case.day, (target, "quarantine", "ingest_log"))
    logs = tables["ingest_log"]
    landed = {log["source_file"] for log in logs}
    # every landed file is logged, read or not, with records or none (a CUR export lands its manifest too)
    assert landed == {p.name for p in manifest_files(Lake(settings.app.lake), "src", case.day)}, logs
    assert any(name.split("-", 1)[1] == path.name for name in landed), landed
    for log in logs:
        assert log["balanced"], log
        assert log["rows_read"] == log["rows_valid"] + log["rows_quarantined"], log
    unreadable = {log["source_file"] for log in logs if log["unreadable_reason"] is not None}
    if case.line_records and not unreadable:
        assert sum(log["rows_read"] for log in logs) == line_count(content), (logs, content[:500])
    for row in tables["quarantine"]:
        assert row["source_file"] in landed and row["reason"], row
        if row["source_file"] in unreadable:
            assert row["reason"].startswith("unreadable file: ") and row["source_row"] is None, row
            continue
        if row["reason"].startswith(INCOMPLETE_PAGE_SET):
            # a file-level sign that pages are missing, beside the file's own records
            assert row["source_row"] is None and row["column_name"] == "has_more", row
            continue
        assert row["source_row"] is not None and row["source_row"] >= 1, row
        assert row["column_name"] is not None or row["reason"] in ROW_REASONS, row
    for row in tables[target]:
        for column, value in row.items():
            if isinstance(value, float):
                assert math.isfinite(value), (column, row)
            if isinstance(value, Decimal):
                assert value.is_finite(), (column, row)
            if isinstance(value, datetime):
                assert 1990 <= value.year <= 2200, (column, row)
            if column in TOKEN_COLUMNS and value is not None:
                assert value >= 0, (column, row)
        if target == "cost_lines":
            assert isinstance(row["BilledCost"], Decimal) and isinstance(row["EffectiveCost"], Decimal), row
        if target == "usage_events" and row["attempt"] is not None:
            assert row["attempt"] >= 1, row


ROW_REASONS = frozenset({MALFORMED_JSON, NOT_AN_OBJECT, NO_DATA_ARRAY})
"""Reasons about a whole record rather than one of its columns."""
