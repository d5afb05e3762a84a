"""Cast text rows to a staging schema, set-based, and reject what does not fit with file, row, column and reason.

Every source kind first turns its file into a DuckDB relation of text columns named like the target schema plus
`_file` and `_row` (1-based row or line number in the file); a column a Parquet file already holds in its staging
type may come typed instead (`assets.ingest.readers.Typed`: no text round trip, it cannot be invalid, its bounds are
still checked). `cast_or_reject` then builds one SQL pass that casts
each column and finds, per row, the first column that fails: a required value missing, a value that does not cast
to the column's type, or a value outside its column's bounds. Rows with no failure are staged; the others go to
quarantine with the reason. Nothing is dropped: rows in = rows staged + rows quarantined.

A reader that already knows a record is broken (a line that is not JSON) keeps it as a row and says why
in an optional text column `_error`, naming the column at fault in an optional `_error_column`; such a row
is rejected with that reason before any column is looked at.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from assets.schemas import QUARANTINE, Column, column_names

RAW_VALUE_CHARS = 200
"""Quarantined values are cut to this length: enough to see the fault, never a whole payload."""

# Bounds per type, on the cast value `v`: timestamps outside these years are parse accidents (a `4/1/25` read as
# year 4), and token counts below zero are impossible.
_BOUNDS: dict[str, tuple[str, str]] = {
    "TIMESTAMPTZ": ("year(v) between 1990 and 2200", "timestamp out of range 1990..2200"),
    "BIGINT": ("v >= 0", "negative count"),
    "INTEGER": ("v >= 0", "negative count"),
    "UBIGINT": ("true", ""),
    "DOUBLE": ("isfinite(v) and v >= 0", "not a finite non-negative number"),
}


_WHOLE_NUMBERS = ("BIGINT", "INTEGER", "UBIGINT")


@dataclass(frozen=True)
class RowCheck:
    """A check across typed columns; `predicate` is SQL over the typed (quoted) column names and must hold."""

    column: str
    predicate: str
    reason: str
    shown: bool = False
    """Quarantine the offending value of `column` with the reason (for checks on one column)."""


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _raw(name: str) -> str:
    return _quote(f"__raw_{name}")


_DESCRIBED_AS = {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}


def _typed(column: Column, source_types: dict[str, str]) -> bool:
    """Whether the reader already gives `column` in its staging type (see `assets.ingest.readers.Typed`), so
    that it needs no cast and cannot be invalid; text stays on the text path (it is trimmed, '' is null)."""
    return column.type != "VARCHAR" and source_types.get(column.name) == _DESCRIBED_AS.get(column.type, column.type)


def _cast(column: Column, source_types: dict[str, str]) -> str:
    if column.name not in source_types:
        return f"null::{column.type}"
    raw = _quote(column.name)
    if _typed(column, source_types):
        return raw
    if column.type == "VARCHAR":
        return f"nullif(trim({raw}), '')"
    if column.type.startswith("MAP"):
        return f"try_cast(try_cast({raw} as json) as {column.type})"
    if column.type in _WHOLE_NUMBERS:
        # a plain cast would round `12.5` to 13: a count written with a fraction or an exponent must be whole
        text = f"trim({raw}::varchar)"
        number = f"try_cast({text} as decimal(38, 10))"
        whole = f"case when {number} = trunc({number}) then {number} end"
        fraction = f"(contains({text}, '.') or contains(lower({text}), 'e'))"
        return f"try_cast(case when {fraction} then {whole}::varchar else {text} end as {column.type})"
    return f"try_cast(nullif(trim({raw}), '') as {column.type})"


def _failure(column: Column, source_types: dict[str, str]) -> list[tuple[str, str]]:
    """(condition over raw and typed values, reason) pairs for one column, in the order they are tested."""
    typed = _quote(column.name)
    if column.name not in source_types:
        return [("true", "required column missing from file")] if column.required else []
    out = []
    if _typed(column, source_types):
        if column.required:
            out.append((f"{typed} is null", "required value missing"))
    else:
        raw = f"nullif(trim({_raw(column.name)}::varchar), '')"
        if column.required:
            out.append((f"{raw} is null", "required value missing"))
        out.append((f"{raw} is not null and {typed} is null", f"not a valid {column.type.lower()}"))
    bound = _BOUNDS.get(column.type)
    if bound and bound[1]:
        # coalesce: a bound that is null for the value (`year` of an infinite timestamp) does not hold
        out.append((f"{typed} is not null and not coalesce({bound[0].replace('v', typed)}, false)", bound[1]))
    return out


def cast_table(
    con: duckdb.DuckDBPyConnection,
    raw_view: str,
    schema: list[Column],
    table: str,
    *,
    checks: tuple[RowCheck, ...] = (),
    append: bool = False,
) -> None:
    """Cast the rows of `raw_view` once into the temp table `table` (created, or appended to): `_file`, `_row`, the
    typed columns of `schema` and `_failure` (null, or the struct `(col, why, val)` of the first fault)."""
    source_types = {row[0]: row[1] for row in con.execute(f"describe {raw_view}").fetchall()}
    casts = ", ".join(f"{_cast(c, source_types)} as {_quote(c.name)}" for c in schema)
    raws = "".join(
        f", r.{_quote(c.name)} as {_raw(c.name)}"
        for c in schema
        if c.name in source_types and not _typed(c, source_types)
    )
    whens: list[str] = []
    if "_error" in source_types:
        raws += ", r._error::varchar as __error"
        error_column = "null::varchar"
        if "_error_column" in source_types:
            raws += ", r._error_column::varchar as __error_column"
            error_column = "__error_column"
        whens.append(
            f"when __error is not null then struct_pack(col := {error_column}, why := __error, val := null::varchar)"
        )
    for column in schema:
        shown = _quote(column.name) if _typed(column, source_types) else _raw(column.name)
        for condition, reason in _failure(column, source_types):
            value = f"left({shown}::varchar, {RAW_VALUE_CHARS})" if column.name in source_types else "null"
            whens.append(
                f"when {condition} then struct_pack(col := '{column.name}', why := '{reason}', val := {value})"
            )
    for check in checks:
        value = f"left({_quote(check.column)}::varchar, {RAW_VALUE_CHARS})" if check.shown else "null::varchar"
        whens.append(
            f"when not coalesce({check.predicate}, false) "
            f"then struct_pack(col := '{check.column}', why := '{check.reason}', val := {value})"
        )
    failure = "case " + " ".join(whens) + " end" if whens else "null::struct(col varchar, why varchar, val varchar)"
    names = ", ".join(_quote(n) for n in column_names(schema))
    into = f"insert into {table} by name" if append else f"create or replace temp table {table} as"
    con.execute(
        f"""
        {into}
        with t as (select _file, _row, {casts}{raws} from {raw_view} r)
        select _file, _row, {names}, {failure} as _failure from t
        """
    )


def staged_and_rejected(
    con: duckdb.DuckDBPyConnection,
    typed: str,
    schema: list[Column],
    *,
    out_prefix: str,
    date_expr: str,
    money: tuple[str, str, str] | None = None,
) -> tuple[str, str]:
    """The temp views `<out_prefix>_staged` (rows with no fault, keeping `_file` and `_row`) and
    `<out_prefix>_rejected` (quarantine rows) over a table or view made by `cast_table`.

    `date_expr` is SQL over the typed columns giving the row's charge date, for quarantine partitioning. `money`
    names the typed columns of a cost row's billed cost, effective cost and currency: the rejected rows carry them
    as `billed_cost`, `effective_cost`, `currency` (null when a row's value did not cast, or without `money`), so
    that quarantine can say how much was rejected.
    """
    staged, rejected = f"{out_prefix}_staged", f"{out_prefix}_rejected"
    names = ", ".join(_quote(n) for n in column_names(schema))
    con.execute(
        f"create or replace temp view {staged} as select _file, _row, {names} from {typed} where _failure is null"
    )
    q = column_names(QUARANTINE)
    billed, effective, currency = (_quote(c) for c in money) if money else ("null", "null", "null")
    con.execute(
        f"""
        create or replace temp view {rejected} as
        select {date_expr} as {q[0]}, null::varchar as {q[1]}, _file as {q[2]}, _row as {q[3]},
               _failure.col as {q[4]}, _failure.why as {q[5]}, _failure.val as {q[6]},
               {billed}::decimal(38, 10) as billed_cost, {effective}::decimal(38, 10) as effective_cost,
               {currency}::varchar as currency
        from {typed} where _failure is not null
        """
    )
    return staged, rejected


def cast_or_reject(
    con: duckdb.DuckDBPyConnection,
    raw_view: str,
    schema: list[Column],
    *,
    out_prefix: str,
    date_expr: str,
    checks: tuple[RowCheck, ...] = (),
) -> tuple[str, str]:
    """`cast_table` into `<out_prefix>_typed` and `staged_and_rejected` over it; returns the two view names."""
    cast_table(con, raw_view, schema, f"{out_prefix}_typed", checks=checks)
    return staged_and_rejected(con, f"{out_prefix}_typed", schema, out_prefix=out_prefix, date_expr=date_expr)
