"""The warehouse: one DuckDB file whose schemas expose every layer as views over the lake's Parquet.

Per-day steps write Parquet without touching this file, so they run in parallel; only `refresh_warehouse` opens
it for writing, under a file lock (and, in Dagster, in the `duckdb_writer` pool), because DuckDB allows one writer.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from filelock import FileLock

from assets.lake import LAYER, PARTITION_COLUMN, Lake
from assets.sql import connect

SCHEMAS = ("raw", "staging", "pricing", "allocation", "marts")
SEARCH_PATH = "marts,allocation,pricing,staging,raw,main"
LOCK_TIMEOUT_S = 600


def warehouse_lock(warehouse: Path) -> FileLock:
    """The lock every writer and reader of the warehouse file holds: DuckDB allows one writer per file."""
    return FileLock(f"{warehouse}.lock", timeout=LOCK_TIMEOUT_S)


def refresh_warehouse(lake: Lake, warehouse: Path) -> list[str]:
    """(Re)create the views of every table that has data; returns their qualified names."""
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    created = []
    with warehouse_lock(warehouse), connect(warehouse) as con:
        for schema in SCHEMAS:
            con.execute(f"create schema if not exists {schema}")
        for table, layer in LAYER.items():
            if not lake.has_data(table):
                continue
            glob = lake.glob(table).replace("'", "''")
            con.execute(
                f"create or replace view {layer}.{table} as select * from read_parquet('{glob}', "
                f"hive_partitioning = true, union_by_name = true, "
                f"hive_types = {{'{PARTITION_COLUMN[table]}': date}})"
            )
            created.append(f"{layer}.{table}")
        manifests = lake.root / "raw" / "_manifests"
        if any(manifests.glob("*/*.parquet")):
            glob = str(manifests / "*" / "*.parquet").replace("'", "''")
            con.execute(f"create or replace view raw.manifest as select * from read_parquet('{glob}')")
            created.append("raw.manifest")
    return created


@contextmanager
def open_warehouse(warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection in which unqualified names (`fact_cost`) resolve across the schemas."""
    if not warehouse.exists():
        raise FileNotFoundError(f"no warehouse at {warehouse}: run `apportion run` first")
    with warehouse_lock(warehouse), connect(warehouse, read_only=True) as con:
        con.execute(f"set search_path = '{SEARCH_PATH}'")
        yield con
