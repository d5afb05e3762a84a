"""The warehouse: one DuckDB file whose schemas expose every layer as described views over the lake's Parquet.

Per-day steps write Parquet without touching this file, so they run in parallel. Publishing builds a complete new
file beside the old one and renames it over the old one (`publish_warehouse`), so readers never hold up a run and a
run never holds up readers: a connection opened before the rename keeps reading the file it opened (an open file
survives a rename), a connection opened after it sees the new one, and no one sees a file half built. Publishers
serialize on a file lock (in Dagster also through the `duckdb_writer` pool); readers take no lock.

Each view of a daily table lists the partitions that existed when it was published, so a day whose layers are still
being written appears in every view at once, at the next publish. Paths in the views are relative to the
warehouse's folder, and a connection resolves them through DuckDB's `file_search_path` (`open_warehouse` sets it):
the folder can be moved or copied with its lake and still answers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

import duckdb
from filelock import FileLock

from assets.lake import LAYER, PARTITION_COLUMN, Lake, atomic_path
from assets.marts.insights import INSIGHT_TABLES, MARTS, insight_file
from assets.schemas import SCHEMA_DESCRIPTIONS, TABLE_DESCRIPTIONS, WAREHOUSE_COLUMNS, column_description
from assets.sql import connect

SCHEMAS = ("raw", "staging", "pricing", "allocation", "marts")
SEARCH_PATH = "marts,allocation,pricing,staging,raw,main"
LOCK_TIMEOUT_S = 600


def warehouse_lock(warehouse: Path) -> FileLock:
    """The lock publishers of the warehouse hold while they build and swap it in (readers need none)."""
    return FileLock(f"{warehouse}.lock", timeout=LOCK_TIMEOUT_S)


def publish_warehouse(lake: Lake, warehouse: Path) -> list[str]:
    """Build the whole warehouse (a described view for every table of the lake that has data, daily layers and
    insight marts) in a new file and swap it in with one rename; returns the qualified view names.

    Both the daily `warehouse` asset and the insight marts publish through here, so a publish never drops the
    other's views."""
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    folder = warehouse.parent.resolve()
    root = PurePosixPath(Path(os.path.relpath(lake.root.resolve(), folder)).as_posix())
    with warehouse_lock(warehouse), atomic_path(warehouse) as tmp:
        views = dict(_view_queries(lake, root))  # listed under the lock: a later publish never lists less
        wal = Path(f"{tmp}.wal")
        wal.unlink(missing_ok=True)
        try:
            with connect(tmp) as con:
                con.execute(f"set file_search_path = {_quoted(str(folder))}")
                con.execute("begin")
                for schema in SCHEMAS:
                    con.execute(f"create schema {schema}")
                for name, query in views.items():
                    con.execute(f"create view {name} as {query}")
                _create_schema_descriptions(con)
                _describe(con, [*views, "main.schemas"])
                con.execute("commit")
        finally:
            wal.unlink(missing_ok=True)
        Path(f"{warehouse}.wal").unlink(missing_ok=True)  # a WAL left by a writer of the old file must not replay
    return list(views)


def _view_queries(lake: Lake, root: PurePosixPath) -> Iterator[tuple[str, str]]:
    """(qualified view name, query) for every table with data; paths relative to the warehouse's folder."""
    for table, layer in LAYER.items():
        partitions = sorted(p.name for p in lake.table_dir(table).glob("*=*") if any(p.glob("*.parquet")))
        if partitions:
            globs = ", ".join(_quoted(str(root / layer / table / p / "*.parquet")) for p in partitions)
            yield (
                f"{layer}.{table}",
                f"select * from read_parquet([{globs}], hive_partitioning = true, union_by_name = true, "
                f"hive_types = {{'{PARTITION_COLUMN[table]}': date}})",
            )
    if any((lake.root / "raw" / "_manifests").glob("*/*.parquet")):
        yield (
            "raw.manifest",
            f"select * from read_parquet({_quoted(str(root / 'raw' / '_manifests' / '*' / '*.parquet'))})",
        )
    for table in INSIGHT_TABLES:
        path = insight_file(lake, table)
        if path.exists():
            relative = root / path.relative_to(lake.root).as_posix()
            yield f"marts.{table}", f"select * from read_parquet({_quoted(str(relative))})"


def table_description(table: str) -> str:
    """What a warehouse table holds: the insight marts' own descriptions, the other tables' from `assets.schemas`."""
    marts = {m.name: m.description for m in MARTS}
    return marts.get(table) or TABLE_DESCRIPTIONS[table]


def _create_schema_descriptions(con: duckdb.DuckDBPyConnection) -> None:
    """`main.schemas`: DuckDB 2.0 cannot comment on a schema, so the schemas' descriptions are a view."""
    rows = ", ".join(f"({_quoted(s)}, {_quoted(d)})" for s, d in SCHEMA_DESCRIPTIONS.items())
    con.execute(f"create view main.schemas as select * from (values {rows}) as s(schema_name, description)")


def _describe(con: duckdb.DuckDBPyConnection, views: list[str]) -> None:
    """COMMENT ON every view and column that has a description."""
    for name in views:
        schema, table = name.split(".")
        con.execute(f"comment on view {name} is {_quoted(table_description(table))}")
        columns = con.execute(
            "select column_name from duckdb_columns() where schema_name = $s and table_name = $t",
            {"s": schema, "t": table},
        ).fetchall()
        for (column,) in columns:
            description = column_description(table, column)
            if description:
                con.execute(f'comment on column {name}."{column}" is {_quoted(description)}')


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@contextmanager
def open_warehouse(warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection in which unqualified names (`fact_cost`) resolve across the schemas and the views'
    relative lake paths resolve from the warehouse's folder."""
    if not warehouse.exists():
        raise FileNotFoundError(f"no warehouse at {warehouse}: run `apportion run` first")
    with connect(warehouse, read_only=True) as con:
        con.execute(f"set file_search_path = {_quoted(str(warehouse.parent.resolve()))}")
        con.execute(f"set search_path = '{SEARCH_PATH}'")
        yield con


def catalog_markdown() -> str:
    """The warehouse's tables and columns with their descriptions, as Markdown (docs/warehouse.md)."""
    layers = {**LAYER, "schemas": "main", "manifest": "raw", **dict.fromkeys(INSIGHT_TABLES, "marts")}
    lines = [
        "# The warehouse's tables and columns",
        "",
        "Generated from `assets/schemas.py` (and the insight marts' descriptions in `assets/marts/insights.py`) by",
        "`python -m assets.warehouse docs/warehouse.md`; the same words are the comments of the warehouse's views and",
        "columns (`comment` in `duckdb_views()` and `duckdb_columns()`, or a BI tool's column list).",
        "",
        "| schema | what it holds |",
        "|---|---|",
        *(f"| `{s}` | {d} |" for s, d in SCHEMA_DESCRIPTIONS.items()),
    ]
    for table, columns in WAREHOUSE_COLUMNS.items():
        lines += ["", f"## `{layers[table]}.{table}`", "", table_description(table), "", "| column | meaning |"]
        lines += ["|---|---|", *(f"| `{c}` | {column_description(table, c)} |" for c in columns)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    Path(sys.argv[1]).write_text(catalog_markdown())
