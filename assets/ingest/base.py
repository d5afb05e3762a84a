"""What a source kind is: how to read one kind of file into text rows of a staging schema."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import duckdb

from assets.ingest.validate import RowCheck

Target = Literal["cost_lines", "usage_events", "usage_metrics"]
Reader = Callable[[duckdb.DuckDBPyConnection, list[Path], str, Mapping[str, Any]], None]


@dataclass(frozen=True)
class SourceKind:
    """`read(con, files, view, options)` creates the DuckDB view `view`: one row per source record, text columns
    named like the `target` schema (missing ones may be absent), plus `_file` (the file's path as given) and
    `_row` (1-based record number in that file). `options` are the source entry's `options` from the config."""

    name: str
    target: Target
    read: Reader
    checks: tuple[RowCheck, ...] = ()
