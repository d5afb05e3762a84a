"""Running the SQL models in `sql/`: one DuckDB connection setup, statement splitting, parameter binding.

DuckDB 2 binds one statement per `execute()` and rejects parameters a statement does not use, so a file is split
into statements and each gets only the `$names` it mentions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import duckdb

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


@cache
def load_sql(name: str) -> str:
    """The text of `sql/<name>.sql`, e.g. `load_sql("marts/fact_cost")`."""
    return (SQL_DIR / f"{name}.sql").read_text()


def split_statements(sql: str) -> list[str]:
    """Statements of a SQL text, split on `;` outside quotes and comments."""
    statements, current, quote, i = [], [], None, 0
    while i < len(sql):
        ch = sql[i]
        if quote:
            current.append(ch)
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
            current.append(ch)
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = len(sql) if end == -1 else end
            continue
        elif ch == ";":
            statements.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    statements.append("".join(current))
    return [s.strip() for s in statements if s.strip()]


def single_statement(sql: str, params: Mapping[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """The one statement of `sql` without comments, and the subset of `params` it names."""
    statements = split_statements(sql)
    if len(statements) != 1:
        raise ValueError(f"expected one SQL statement, got {len(statements)}")
    return statements[0], _bound(statements[0], params or {})


def _bound(statement: str, params: Mapping[str, Any]) -> dict[str, Any]:
    used = set(_PARAM.findall(statement))
    missing = used - params.keys()
    if missing:
        raise KeyError(f"SQL parameter(s) not given: {', '.join(sorted(missing))}")
    return {k: params[k] for k in used}


def run_sql(con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple]:
    """Execute every statement of `sql`, binding to each only the parameters it names; rows of the last."""
    params = params or {}
    rows: list[tuple] = []
    for statement in split_statements(sql):
        rows = con.execute(statement, _bound(statement, params)).fetchall()
    return rows


def run_model(con: duckdb.DuckDBPyConnection, name: str, params: Mapping[str, Any] | None = None) -> list[tuple]:
    """Run `sql/<name>.sql`."""
    return run_sql(con, load_sql(name), params)


def connect(
    database: str | Path = ":memory:",
    *,
    memory_limit: str = "4GB",
    threads: int | None = None,
    temp_directory: str | Path | None = None,
    read_only: bool = False,
    keep_order: bool = False,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection set up the same way everywhere: UTC, bounded memory, spill directory.

    `keep_order`: results without ORDER BY keep the order of their input (DuckDB's `preserve_insertion_order`),
    for writers that stream rows in file order instead of sorting them; off by default, which saves memory."""
    config: dict[str, Any] = {"memory_limit": memory_limit, "preserve_insertion_order": keep_order}
    if threads:
        config["threads"] = threads
    if temp_directory:
        config["temp_directory"] = str(temp_directory)
    con = duckdb.connect(str(database), read_only=read_only, config=config)
    con.execute("set timezone = 'UTC'")
    return con
