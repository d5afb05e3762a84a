"""Tiny lakes for the warehouse: a few days of fact_cost, reconciliation and true_up, and the retry_spend mart,
written from Python rows as the pipeline lays them out, so a warehouse can be published over them in a test."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from assets.lake import Lake, write_parquet
from assets.marts.insights import insight_file
from assets.sql import connect
from tests.allocation_fixtures import _table
from tests.insights_fixtures import FACT_COST

RECONCILIATION = [("charge_date", "DATE"), ("source", "VARCHAR"), ("source_total", "DECIMAL(38,10)")]
TRUE_UP = [
    ("charge_date", "DATE"),
    ("source", "VARCHAR"),
    ("provider", "VARCHAR"),
    ("model", "VARCHAR"),
    ("billed_usd", "DECIMAL(38,10)"),
    ("list_priced_usd", "DECIMAL(38,10)"),
    ("residual_usd", "DECIMAL(38,10)"),
    ("unlogged_usd", "DECIMAL(38,10)"),
    ("price_residual_usd", "DECIMAL(38,10)"),
]
RETRY_SPEND = [
    ("charge_date", "DATE"),
    ("team", "VARCHAR"),
    ("feature", "VARCHAR"),
    ("agent", "VARCHAR"),
    ("retry_list_usd", "DECIMAL(38,10)"),
    ("failed_list_usd", "DECIMAL(38,10)"),
    ("billed_retry_usd", "DECIMAL(38,10)"),
]
TABLES = {"fact_cost": FACT_COST, "reconciliation": RECONCILIATION, "true_up": TRUE_UP, "retry_spend": RETRY_SPEND}
"""The columns the tiny tables have (the real tables have more; every one here exists there)."""


def write_partition(lake: Lake, table: str, day: date, rows: list[dict[str, Any]]) -> None:
    """Replace the day's partition of a daily table (fact_cost, reconciliation, true_up) with `rows`."""
    columns = [(n, t) for n, t in TABLES[table] if n != "charge_date"]
    _write(lake.partition_file(table, day), columns, [{k: v for k, v in r.items() if k != "charge_date"} for r in rows])


def write_insight(lake: Lake, table: str, rows: list[dict[str, Any]]) -> None:
    """Replace an insight mart (`<lake>/marts/<table>/data.parquet`) with `rows`."""
    _write(insight_file(lake, table), TABLES[table], rows)


def _write(target: Path, columns: list[tuple[str, str]], rows: list[dict[str, Any]]) -> None:
    with connect() as con:
        _table(con, "tiny_rows", columns, rows)
        write_parquet(con, "select * from tiny_rows", target)


def fact_row(amount: str, **columns: Any) -> dict[str, Any]:
    """A fact_cost row: dimensions 'unallocated' unless given."""
    return {
        **dict.fromkeys(("team", "feature", "customer", "agent", "workflow"), "unallocated"),
        "provider": "openai",
        "model": "gpt-4o",
        "cost_category": "inference",
        "allocation_rule": "llm_api_by_priced_usage",
        "source": "openai_costs",
        "is_retry": False,
        "amount_usd": Decimal(amount),
        "input_tokens": 0,
        "output_tokens": 0,
        "requests": 0,
        **columns,
    }
