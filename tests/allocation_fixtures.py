"""Build the inputs of one allocation day in a real DuckDB from small Python lists."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import duckdb

from assets.schemas import PRICED_USAGE, STAGED_COST_LINES, STAGED_USAGE_METRICS


def _table(con: duckdb.DuckDBPyConnection, name: str, columns: list[tuple[str, str]], rows: list[dict]) -> None:
    typed = ", ".join(f'null::{t} as "{n}"' for n, t in columns)
    con.execute(f"create or replace temp table {name} as select {typed} where false")
    known = {n for n, _ in columns}
    for row in rows:
        unknown = set(row) - known
        if unknown:
            raise KeyError(f"{name}: unknown columns {unknown}")
        names = list(row)
        placeholders = ", ".join(f"$c{i}" for i in range(len(names)))
        quoted = ", ".join(f'"{n}"' for n in names)
        con.execute(
            f"insert into {name} ({quoted}) values ({placeholders})",
            {f"c{i}": row[n] for i, n in enumerate(names)},
        )


def line(line_id: str, amount: str | Decimal, **columns: Any) -> dict:
    """A cost line with both cost columns set to `amount`."""
    return {
        "x_LineId": line_id,
        "x_Source": columns.pop("x_Source", "bill"),
        "BilledCost": Decimal(amount),
        "EffectiveCost": Decimal(amount),
        "BillingCurrency": "USD",
        "ChargeCategory": "Usage",
        **columns,
    }


def load_day(
    con: duckdb.DuckDBPyConnection,
    lines: list[dict],
    calls: list[dict] | None = None,
    metrics: list[dict] | None = None,
) -> None:
    """Create the views `cost_lines_day`, `priced_day`, `usage_metrics_day` the engine reads."""
    _table(con, "cost_lines_day", STAGED_COST_LINES, lines)
    _table(con, "priced_day", PRICED_USAGE, calls or [])
    _table(con, "usage_metrics_day", STAGED_USAGE_METRICS, metrics or [])
