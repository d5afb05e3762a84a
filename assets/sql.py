"""Running the SQL models in `sql/`: one DuckDB connection setup, statement splitting, parameter binding.

Every file under `sql/` starts with a header that states what it needs and makes:

    -- <what the model computes>
    -- reads: <relations it reads and does not define itself> (or: none)
    -- params: $a, $b (or: none)
    -- output: <the relation it creates, or the result of its final select>

`run_model` runs a file with exactly the params its header declares and the relations it reads in place.
Statements are split, and the `$names` of each found, by DuckDB's own parser (`extract_statements`), so a `;` or a
`$x` inside a string or a comment is text. DuckDB 2 binds one statement per `execute()` and rejects parameters a
statement does not use, so each statement gets only the `$names` it mentions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import duckdb

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
HEADER_FIELDS = ("reads", "params", "output")


@dataclass(frozen=True)
class Statement:
    """One statement of a SQL text: its text without comments nor the closing `;`, and the `$names` it uses."""

    text: str
    params: frozenset[str]


@dataclass(frozen=True)
class Model:
    """A file of `sql/`: its header and its statements."""

    name: str
    description: str
    reads: tuple[str, ...]
    params: frozenset[str]
    output: str
    statements: tuple[Statement, ...]

    @property
    def path(self) -> Path:
        return SQL_DIR / f"{self.name}.sql"


def _strip(sql: str) -> str:
    """`sql` without its comments and trailing `;`, by DuckDB's tokenizer (a `--` inside a string stays)."""
    tokens = duckdb.tokenize(sql)
    raw = sql.encode()  # token positions are byte offsets
    kept: list[bytes] = []
    for i, (start, kind) in enumerate(tokens):
        end = tokens[i + 1][0] if i + 1 < len(tokens) else len(raw)
        kept.append(b"\n" if kind == duckdb.token_type.comment else raw[start:end])
    text = b"".join(kept).decode().strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    return text


def statements(sql: str, con: duckdb.DuckDBPyConnection | None = None) -> list[Statement]:
    """The statements of `sql` as DuckDB's parser splits them (`con`'s parser, else a fresh in-memory one)."""
    parser = con or duckdb.connect()
    try:
        parsed = parser.extract_statements(sql)
    finally:
        if con is None:
            parser.close()
    return [Statement(_strip(s.query), frozenset(s.named_parameters)) for s in parsed]


def split_statements(sql: str) -> list[str]:
    """The texts of the statements of `sql`, without comments."""
    return [s.text for s in statements(sql)]


def _header(name: str, sql: str) -> tuple[str, dict[str, str]]:
    """The description and the fields (`reads`, `params`, `output`) of the leading comment lines of a file."""
    description: list[str] = []
    fields: dict[str, list[str]] = {}
    field = None
    for line in sql.splitlines():
        if not line.startswith("--"):
            break
        key, _, value = line[2:].strip().partition(":")
        if key in HEADER_FIELDS and key not in fields:
            field = key
            fields[key] = [value.strip()]
        elif field is None:
            description.append(line[2:].strip())
        elif line.startswith("--  "):  # a field's value continued, indented
            fields[field].append(line[2:].strip())
        else:
            break
    missing = [f for f in HEADER_FIELDS if f not in fields]
    if not description or missing:
        what = ", ".join(f"-- {f}:" for f in missing) or "a description line"
        raise ValueError(f"sql/{name}.sql: the header lacks {what} (see assets/sql.py)")
    return " ".join(description), {k: " ".join(v).strip() for k, v in fields.items()}


def _names(value: str, prefix: str = "") -> list[str]:
    if value == "none":
        return []
    names = [n.strip() for n in value.split(",")]
    return [n.removeprefix(prefix) for n in names if n]


@cache
def load_model(name: str) -> Model:
    """`sql/<name>.sql` with its header, e.g. `load_model("marts/fact_cost")`. Raises ValueError naming the file
    when the header is missing a field or declares other params than its statements use."""
    sql = (SQL_DIR / f"{name}.sql").read_text()
    description, fields = _header(name, sql)
    parsed = statements(sql)
    used = frozenset().union(*(s.params for s in parsed))
    declared = frozenset(_names(fields["params"], "$"))
    if declared != used:
        raise ValueError(
            f"sql/{name}.sql: the header declares params {_listed(declared)}, its statements use {_listed(used)}"
        )
    return Model(name, description, tuple(_names(fields["reads"])), declared, fields["output"], tuple(parsed))


def _listed(names: frozenset[str] | set[str]) -> str:
    return ", ".join(f"${n}" for n in sorted(names)) or "none"


def load_sql(name: str) -> str:
    """The one statement of `sql/<name>.sql`, without comments, to run or wrap (`write_parquet`)."""
    model = load_model(name)
    if len(model.statements) != 1:
        raise ValueError(f"sql/{name}.sql: expected one SQL statement, got {len(model.statements)}")
    return model.statements[0].text


def single_statement(sql: str, params: Mapping[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """The one statement of `sql` without comments, and the subset of `params` it names."""
    found = statements(sql)
    if len(found) != 1:
        raise ValueError(f"expected one SQL statement, got {len(found)}")
    return found[0].text, _bound(found[0], params or {})


def _bound(statement: Statement, params: Mapping[str, Any]) -> dict[str, Any]:
    missing = statement.params - params.keys()
    if missing:
        raise KeyError(f"SQL parameter(s) not given: {', '.join(sorted(missing))}")
    return {k: params[k] for k in statement.params}


def _run(con: duckdb.DuckDBPyConnection, found: list[Statement] | tuple[Statement, ...], params: Mapping) -> list:
    rows: list[tuple] = []
    for statement in found:
        rows = con.execute(statement.text, _bound(statement, params)).fetchall()
    return rows


def run_sql(con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple]:
    """Execute every statement of `sql`, binding to each only the parameters it names; rows of the last."""
    return _run(con, statements(sql, con), params or {})


def relations(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The tables and views `con` can read by name (registered Arrow tables are views)."""
    rows = con.execute(
        "select table_name from duckdb_tables() union all select view_name from duckdb_views() where not internal"
    ).fetchall()
    return {r[0] for r in rows}


def run_model(
    con: duckdb.DuckDBPyConnection, name: str, params: Mapping[str, Any] | None = None, *, shared: bool = False
) -> list[tuple]:
    """Run `sql/<name>.sql` with exactly the params its header declares (with `shared`, `params` is a dict several
    models draw from: the declared ones are taken from it); rows of its last statement. Raises ValueError naming
    the file when a param is missing or not declared, or a relation of its `reads:` does not exist."""
    model = load_model(name)
    given = set(params or {})
    missing, extra = model.params - given, set() if shared else given - model.params
    if missing or extra:
        raise ValueError(
            f"{model.path.relative_to(SQL_DIR.parent)} takes params {_listed(model.params)}; "
            f"missing {_listed(missing)}, not declared {_listed(extra)}"
        )
    absent = [r for r in model.reads if r not in relations(con)]
    if absent:
        raise ValueError(f"sql/{name}.sql reads {', '.join(absent)}, which does not exist on this connection")
    return _run(con, model.statements, params or {})


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
