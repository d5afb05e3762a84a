"""Digests of a lake and of a warehouse's contents, so that two runs (two commits, or one run twice) can be compared.

`.venv/bin/python -m bench.lake_hash LAKE [--warehouse FILE]` prints one `sha256  name` line per lake file (Parquet
partitions, manifests, raw copies, found-nothing notes; by path relative to the lake) and per warehouse relation
(`warehouse:<schema>.<name>`), sorted, so `diff` of two outputs lists exactly what differs. `--compare OTHER_LAKE
[--other-warehouse FILE]` compares two lakes directly and exits 1 when they differ.

Left out: `_tmp/` (scratch) and, unless `--with-deliveries`, `staging/_deliveries/` (a cache of parsed deliveries
whose key includes a hash of the ingest code, so any change to that code renames it). A warehouse file's bytes depend
on DuckDB's block layout, so a relation is digested by its columns (names, types, descriptions) and its rows in a
canonical order, computed in DuckDB.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from assets.lake import sha256_of
from assets.warehouse import open_warehouse

SCRATCH = ("_tmp",)
DELIVERIES = ("staging", "_deliveries")


def lake_digests(lake: Path, *, with_deliveries: bool = False) -> dict[str, str]:
    """sha256 of every file of `lake` by its path relative to the lake (see the module docstring for what is left
    out). Temporary files of writers (`.<name>.tmp-<pid>`) are left out too."""
    digests = {}
    for path in sorted(lake.rglob("*")):
        name = path.relative_to(lake)
        if not path.is_file() or name.parts[:1] == SCRATCH or path.name.startswith("."):
            continue
        if not with_deliveries and name.parts[:2] == DELIVERIES:
            continue
        digests[name.as_posix()] = sha256_of(path)
    return digests


def warehouse_digests(warehouse: Path) -> dict[str, str]:
    """A digest per relation of the warehouse (`warehouse:<schema>.<name>`): its columns with types and
    descriptions, its row count and its rows as text in sorted order."""
    digests = {}
    with open_warehouse(warehouse) as con:
        relations = con.execute(
            "select schema_name, view_name from duckdb_views() "
            "where not internal and database_name = current_database() "
            "union all select schema_name, table_name from duckdb_tables() where database_name = current_database() "
            "order by all"
        ).fetchall()
        for schema, name in relations:
            columns = con.execute(
                "select column_name, data_type, comment from duckdb_columns() "
                "where database_name = current_database() and schema_name = $s and table_name = $t "
                "order by column_index",
                {"s": schema, "t": name},
            ).fetchall()
            relation = f'"{schema}"."{name}"'
            count, rows = con.execute(
                f"select count(*), sha256(coalesce(string_agg(r::varchar, chr(10) order by r::varchar), '')) "
                f"from {relation} r"
            ).fetchall()[0]
            text = f"{columns!r}\n{count}\n{rows}"
            digests[f"warehouse:{schema}.{name}"] = hashlib.sha256(text.encode()).hexdigest()
    return digests


def digests(lake: Path, warehouse: Path | None, *, with_deliveries: bool = False) -> dict[str, str]:
    found = lake_digests(lake, with_deliveries=with_deliveries)
    return found | (warehouse_digests(warehouse) if warehouse else {})


def differences(first: dict[str, str], second: dict[str, str]) -> list[str]:
    """What differs between two digest sets, one line per name: only in one, or changed."""
    lines = []
    for name in sorted(first.keys() | second.keys()):
        if name not in second:
            lines.append(f"only in the first: {name}")
        elif name not in first:
            lines.append(f"only in the second: {name}")
        elif first[name] != second[name]:
            lines.append(f"differs: {name}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lake", type=Path)
    parser.add_argument("--warehouse", type=Path)
    parser.add_argument("--compare", type=Path, metavar="OTHER_LAKE")
    parser.add_argument("--other-warehouse", type=Path)
    parser.add_argument("--with-deliveries", action="store_true")
    args = parser.parse_args(argv)
    first = digests(args.lake, args.warehouse, with_deliveries=args.with_deliveries)
    if args.compare is None:
        sys.stdout.writelines(f"{digest}  {name}\n" for name, digest in first.items())
        return 0
    second = digests(args.compare, args.other_warehouse, with_deliveries=args.with_deliveries)
    found = differences(first, second)
    sys.stdout.writelines(line + "\n" for line in found)
    print(f"{len(first)} and {len(second)} digests; {len(found)} differences")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
