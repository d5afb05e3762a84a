"""Where every layer keeps its files, and how they are written: atomically, one partition at a time.

```
<lake>/raw/<source>/<sha256[:16]>-<file name>          byte-for-byte copies of source files (content-addressed)
<lake>/raw/_manifests/<source>/<day>.parquet           which raw files a day of that source read
<lake>/raw/_manifests/<source>/<day>.found-nothing.txt  why that day read none (what was looked for, and where)
<lake>/<layer>/<table>/<partition>=<day>/<name>.parquet  one file per partition (and per source in staging)
<lake>/staging/_deliveries/<source>/<key>.parquet      a billing delivery's typed rows, parsed once (+ .files.parquet)
```
A partition is replaced by writing a temporary file beside it and renaming it over the old one, so a crash never
leaves a half-written partition and a re-run replaces rather than appends.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import duckdb

from assets.sql import single_statement

PARTITION_COLUMN = {
    "cost_lines": "charge_date",
    "usage_events": "event_date",
    "usage_metrics": "metric_date",
    "quarantine": "charge_date",
    "ingest_log": "charge_date",
    "priced_usage": "event_date",
    "allocated_lines": "charge_date",
    "fact_cost": "charge_date",
    "reconciliation": "charge_date",
    "true_up": "charge_date",
}

LAYER = {
    "cost_lines": "staging",
    "usage_events": "staging",
    "usage_metrics": "staging",
    "quarantine": "staging",
    "ingest_log": "staging",
    "priced_usage": "pricing",
    "allocated_lines": "allocation",
    "fact_cost": "marts",
    "reconciliation": "marts",
    "true_up": "marts",
}


class Lake:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def table_dir(self, table: str) -> Path:
        return self.root / LAYER[table] / table

    def partition_dir(self, table: str, day: date) -> Path:
        return self.table_dir(table) / f"{PARTITION_COLUMN[table]}={day.isoformat()}"

    def partition_file(self, table: str, day: date, name: str = "data") -> Path:
        return self.partition_dir(table, day) / f"{name}.parquet"

    def glob(self, table: str) -> str:
        """All partitions of a table, for `read_parquet(..., hive_partitioning = true)`."""
        return str(self.table_dir(table) / "*" / "*.parquet")

    def has_data(self, table: str) -> bool:
        return any(self.table_dir(table).glob("*/*.parquet"))

    def raw_dir(self, source: str) -> Path:
        return self.root / "raw" / source

    def manifests_dir(self, source: str) -> Path:
        return self.root / "raw" / "_manifests" / source

    def manifest_file(self, source: str, day: date) -> Path:
        return self.manifests_dir(source) / f"{day.isoformat()}.parquet"

    def deliveries_dir(self, source: str) -> Path:
        """A source's billing deliveries, each parsed and cast once (`assets.staging`)."""
        return self.root / "staging" / "_deliveries" / source

    def found_nothing_file(self, source: str, day: date) -> Path:
        return self.manifest_file(source, day).with_suffix(".found-nothing.txt")

    def tmp_dir(self) -> Path:
        path = self.root / "_tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def land_file(source_file: Path, raw_dir: Path) -> tuple[Path, str]:
    """Keep a byte-for-byte copy of `source_file` under `raw_dir`, named by its content; return (path, sha256).

    A file already landed with the same content is not copied again. Hard links are used where the filesystem
    allows, so landing a large local file costs no second copy of its bytes.
    """
    checksum = sha256_of(source_file)
    target = raw_dir / f"{checksum[:16]}-{source_file.name}"
    if not target.exists():
        raw_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(target)
        tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        try:
            os.link(source_file, tmp)
        except OSError:
            shutil.copyfile(source_file, tmp)
        os.replace(tmp, target)
    return target, checksum


def remove_stale_temporaries(target: Path) -> None:
    """Remove temporary files beside `target` left by writers that no longer run (a run killed mid-write)."""
    for stale in target.parent.glob(f".{target.name}.tmp-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _running(int(pid)):
            stale.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success it replaces `target` in one rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_parquet(
    con: duckdb.DuckDBPyConnection,
    query: str,
    target: Path,
    params: dict | None = None,
    *,
    row_group_size: int = 500_000,
) -> int:
    """Write the result of `query` (one statement; it gets the `params` it names) to `target` atomically;
    returns the number of rows written. The writer holds about a row group per thread in memory."""
    statement, bound = single_statement(query, params)
    with atomic_path(target) as tmp:
        con.execute(
            f"copy ({statement}) to '{_literal(tmp)}' "
            f"(format parquet, compression zstd, row_group_size {int(row_group_size)})",
            bound,
        )
        rows = con.execute(f"select count(*) from read_parquet('{_literal(tmp)}')").fetchall()[0][0]
    return int(rows)


def replace_partition(directory: Path, keep: set[str]) -> None:
    """Remove files in a partition directory that the current run did not write (a source dropped from config)."""
    if directory.is_dir():
        for path in directory.glob("*.parquet"):
            if path.name not in keep:
                path.unlink()


def _literal(path: Path) -> str:
    return str(path).replace("'", "''")


def register_day_view(
    con: duckdb.DuckDBPyConnection,
    lake: Lake,
    table: str,
    day: date,
    view: str,
    columns: list[tuple[str, str]],
) -> int:
    """Create `view` over the day's partition files of `table` (all sources); typed and empty when there are none.
    `columns` (name, type) describe the empty case. Returns the number of files."""
    files = sorted(str(p) for p in lake.partition_dir(table, day).glob("*.parquet"))
    register_files_view(con, files, view, columns)
    return len(files)


def register_files_view(
    con: duckdb.DuckDBPyConnection, files: list[str], view: str, columns: list[tuple[str, str]]
) -> None:
    """Create `view` over Parquet `files` (by column name); typed and empty, as `columns` say, when there are none."""
    if files:
        listed = ", ".join(f"'{_literal(Path(f))}'" for f in files)
        con.execute(
            f"create or replace temp view {view} as select * from read_parquet([{listed}], union_by_name = true)"
        )
    else:
        typed = ", ".join(f'null::{t} as "{n}"' for n, t in columns)
        con.execute(f"create or replace temp view {view} as select {typed} where false")
