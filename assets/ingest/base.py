"""What a source kind is: how to read one kind of file into text rows of a staging schema."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import duckdb

from assets.ingest.counts import RowCounter, rows_by_file_type
from assets.ingest.options import KindOptions, NoOptions
from assets.ingest.readers import Reader
from assets.ingest.validate import RowCheck

Target = Literal["cost_lines", "usage_events", "usage_metrics"]


class SourceEntry(Protocol):
    """What a kind's fetcher and predicates read of a config source entry (`assets.config.Source`); declared here
    so that the kinds, which the config validates sources against, do not import the config."""

    @property
    def name(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def options(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class Fetched:
    """A file a source offered for a day, now on local disk: where it came from and when it last changed there
    (the remote object's own time, so that landing the same object again gives the same manifest)."""

    path: Path
    origin: str
    modified_at: datetime


Fetcher = Callable[[Any, date, Path], list[Fetched]]
"""`fetch(source, day, workdir)`: download what a remote source (S3, BigQuery, an API) offers for `day` into
`workdir` and return it. `source` is the config entry (`assets.config.Source`: name, path, options). Local
sources have no fetcher: their `path` (with `{date}`) is globbed."""


@dataclass(frozen=True)
class SourceKind:
    """`read(con, files, view, options)` creates the DuckDB view `view`: one row per source record, text columns
    named like the `target` schema (missing ones may be absent), plus `_file` (the file's path as given) and
    `_row` (1-based record number in that file). `options` are the source entry's `options` from the config."""

    name: str
    target: Target
    read: Reader
    checks: tuple[RowCheck, ...] = ()
    fetch: Fetcher | None = None
    redact: Callable[[Path, Path], None] | None = None
    """For formats that can carry prompt or response text: `redact(source, target)` writes the copy raw keeps."""
    count_rows: RowCounter = rows_by_file_type
    """How the records of a file are counted apart from `read`, for the balance of `ingest_log`
    (`assets.ingest.counts`)."""
    reads_files: Callable[[Any], bool] | None = None
    """For a kind with `fetch`: whether this source's path names files to read as they are (a file a user
    downloaded, a glob), listed like a local kind's, rather than a layout to fetch from. None: always fetch."""
    expects: Callable[[Any], str] | None = None
    """What a source of this kind expects at its path, and the setting that changes it: said in plain words when
    a day finds nothing there."""
    options_model: type[KindOptions] = NoOptions
    """The model of the source entry's `options` (`assets.ingest.options`), checked when the config is loaded."""
    incomplete: Callable[[duckdb.DuckDBPyConnection, list[Path]], list[tuple[str, str, str]]] | None = None
    """For a kind whose day is a set of files that says whether it is whole (API pages): `incomplete(con, files)`
    lists (file name, field, reason) for each sign that files of the day are missing; each is quarantined and makes
    the source's day incomplete in reconciliation."""
