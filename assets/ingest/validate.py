"""Cast text rows to a staging schema, set-based, and reject what does not fit with file, row, column and reason.

Every source kind first turns its file into a DuckDB relation of text columns named like the target schema plus
`_file` and `_row` (1-based row or line number in the file). `cast_or_reject` then builds one SQL pass that casts
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


def _cast(column: Column, source_columns: set[str]) -> str:
    if column.name not in source_columns:
        return f"null::{column.type}"
    raw = _quote(column.name)
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


def _failure(column: Column, source_columns: set[str]) -> list[tuple[str, str]]:
    """(condition over raw and typed values, reason) pairs for one column, in the order they are tested."""
    typed = _quote(column.name)
    if column.name not in source_columns:
        return [("true", "required column missing from file")] if column.required else []
    raw = f"nullif(trim({_raw(column.name)}::varchar), '')"
    out = []
    if column.required:
        out.append((f"{raw} is null", "required value missing"))
    out.append((f"{raw} is not null and {typed} is null", f"not a valid {column.type.lower()}"))
    bound = _BOUNDS.get(column.type)
    if bound and bound[1]:
        # coalesce: a bound that is null for the value (`year` of an infinite timestamp) does not hold
        out.append((f"{typed} is not null and not coalesce({bound[0].replace('v', typed)}, false)", bound[1]))
    return out


def cast_or_reject(
    con: duckdb.DuckDBPyConnection,
    raw_view: str,
    schema: list[Column],
    *,
    out_prefix: str,
    date_expr: str,
    checks: tuple[RowCheck, ...] = (),
) -> tuple[str, str]:
    """Cast the text rows in `raw_view` once into the temp table `<out_prefix>_typed`, and create the temp views
    `<out_prefix>_staged` and `<out_prefix>_rejected` over it.

    `date_expr` is SQL over the typed columns giving the row's charge date, for quarantine partitioning.
    Returns the two table names. Staged rows keep `_file` and `_row`.
    """
    source_columns = {row[0] for row in con.execute(f"describe {raw_view}").fetchall()}
    casts = ", ".join(f"{_cast(c, source_columns)} as {_quote(c.name)}" for c in schema)
    raws = "".join(f", r.{_quote(c.name)} as {_raw(c.name)}" for c in schema if c.name in source_columns)
    whens: list[str] = []
    if "_error" in source_columns:
        raws += ", r._error::varchar as __error"
        error_column = "null::varchar"
        if "_error_column" in source_columns:
            raws += ", r._error_column::varchar as __error_column"
            error_column = "__error_column"
        whens.append(
            f"when __error is not null then struct_pack(col := {error_column}, why := __error, val := null::varchar)"
        )
    for column in schema:
        for condition, reason in _failure(column, source_columns):
            value = (
                f"left({_raw(column.name)}::varchar, {RAW_VALUE_CHARS})" if column.name in source_columns else "null"
            )
            whens.append(
                f"when {condition} then struct_pack(col := '{column.name}', why := '{reason}', val := {value})"
            )
    for check in checks:
        value = f"left({_quote(check.column)}::varchar, {RAW_VALUE_CHARS})" if check.shown else "null::varchar"
        whens.append(
            f"when not coalesce({check.predicate}, false) "
            f"then struct_pack(col := '{check.column}', why := '{check.reason}', val := {value})"
        )
    failure = "case " + " ".join(whens) + " end" if whens else "null"
    typed = f"{out_prefix}_typed"
    names = ", ".join(_quote(n) for n in column_names(schema))
    con.execute(
        f"""
        create or replace temp table {typed} as
        with t as (select _file, _row, {casts}{raws} from {raw_view} r)
        select _file, _row, {names}, {failure} as _failure from t
        """
    )
    staged, rejected = f"{out_prefix}_staged", f"{out_prefix}_rejected"
    con.execute(
        f"create or replace temp view {staged} as select _file, _row, {names} from {typed} where _failure is null"
    )
    q = column_names(QUARANTINE)
    con.execute(
        f"""
        create or replace temp view {rejected} as
        select {date_expr} as {q[0]}, null::varchar as {q[1]}, _file as {q[2]}, _row as {q[3]},
               _failure.col as {q[4]}, _failure.why as {q[5]}, _failure.val as {q[6]}
        from {typed} where _failure is not null
        """
    )
    return staged, rejected
