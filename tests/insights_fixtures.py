"""Small lakes for the insight marts: fact_cost, priced_usage, cost_lines and allocated_lines partitions written
from Python lists, with defaults for whatever a test does not care about."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from assets.lake import Lake, write_parquet
from assets.marts.facts import ALLOCATED_LINES
from assets.marts.insights import Built, build_insight_day, build_insights, insight_file
from assets.marts.insights_config import InsightsConfig
from assets.pricing import PriceOverrides
from assets.schemas import PRICED_USAGE, STAGED_COST_LINES
from assets.sql import connect
from tests.allocation_fixtures import _table

FACT_COST = [
    ("charge_date", "DATE"),
    ("team", "VARCHAR"),
    ("feature", "VARCHAR"),
    ("customer", "VARCHAR"),
    ("agent", "VARCHAR"),
    ("workflow", "VARCHAR"),
    ("provider", "VARCHAR"),
    ("model", "VARCHAR"),
    ("cost_category", "VARCHAR"),
    ("allocation_rule", "VARCHAR"),
    ("source", "VARCHAR"),
    ("is_retry", "BOOLEAN"),
    ("unallocated_reason", "VARCHAR"),
    ("amount_usd", "DECIMAL(38,10)"),
    ("input_tokens", "BIGINT"),
    ("output_tokens", "BIGINT"),
    ("requests", "BIGINT"),
]
DIMENSIONS = ("team", "feature", "customer", "agent", "workflow")


def fact(day: date, amount: str | Decimal = "0", **columns: Any) -> dict:
    """A fact_cost row: dimensions default to 'unallocated', the rule to a usage rule."""
    return {
        "charge_date": day,
        **dict.fromkeys(DIMENSIONS, "unallocated"),
        "cost_category": "inference",
        "allocation_rule": "llm_api_by_priced_usage",
        "source": "bill",
        "is_retry": False,
        "amount_usd": Decimal(amount),
        "input_tokens": 0,
        "output_tokens": 0,
        "requests": 0,
        **columns,
    }


def telemetry(day: date, requests: int, input_tokens: int = 0, output_tokens: int = 0, **columns: Any) -> dict:
    """A fact_cost usage-count row (rule 'telemetry', no amount)."""
    return fact(
        day,
        allocation_rule="telemetry",
        requests=requests,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        **columns,
    )


_row_numbers = iter(range(1, 10**9))


def call(at: datetime, list_cost: str | Decimal | None = "0.01", **columns: Any) -> dict:
    """A priced_usage row at `at` (UTC): an ok first attempt of gpt-4o with a unique source row."""
    row = next(_row_numbers)
    return {
        "event_time": at,
        "request_id": f"req-{row}",
        "trace_id": f"trace-{row}",
        "provider": "openai",
        "model": "gpt-4o",
        "operation": "chat",
        "input_tokens": 1000,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "cache_write_1h_tokens": 0,
        "output_tokens": 100,
        "request_count": 1,
        "status": "ok",
        "attempt": 1,
        "latency_ms": 500.0,
        "list_cost": None if list_cost is None else Decimal(list_cost),
        "x_Source": "app",
        "x_SourceFile": "calls.jsonl",
        "x_SourceRow": row,
        **columns,
    }


def at(day: date, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC)


def days(first: date, n: int) -> list[date]:
    return [first + timedelta(days=i) for i in range(n)]


def _write_partitions(con: duckdb.DuckDBPyConnection, lake: Lake, table: str, day_sql: str) -> None:
    for (day,) in con.execute(f"select distinct {day_sql} from {table}_rows").fetchall():
        write_parquet(
            con, f"select * from {table}_rows where {day_sql} = $day", lake.partition_file(table, day), {"day": day}
        )


def write_lake(
    root: Path,
    *,
    facts: Iterable[dict] = (),
    calls: Iterable[dict] = (),
    lines: Iterable[dict] = (),
    pieces: Iterable[dict] = (),
) -> Lake:
    """A lake with these fact_cost rows, priced calls, cost lines (`charge_date` + staged columns) and allocated
    pieces (`charge_date`, `line_id`, …), partitioned by day as the pipeline writes them."""
    lake = Lake(root)
    con = connect()
    try:
        _table(con, "fact_cost_rows", FACT_COST, list(facts))
        _table(con, "priced_usage_rows", PRICED_USAGE, list(calls))
        _table(con, "cost_lines_rows", [*STAGED_COST_LINES, ("charge_date", "DATE")], list(lines))
        _table(con, "allocated_lines_rows", [*ALLOCATED_LINES, ("line_id", "VARCHAR")], list(pieces))
        _write_partitions(con, lake, "fact_cost", "charge_date")
        _write_partitions(con, lake, "priced_usage", "(event_time at time zone 'UTC')::date")
        _write_partitions(con, lake, "cost_lines", "charge_date")
        _write_partitions(con, lake, "allocated_lines", "charge_date")
    finally:
        con.close()
    return lake


def mart(
    lake: Lake,
    table: str,
    config: InsightsConfig | None = None,
    overrides: PriceOverrides | None = None,
    where: str = "true",
) -> list[dict]:
    """Build one insight mart (after every day's aggregates) and return its rows (filtered by the SQL `where`)."""
    build_all(lake, config or InsightsConfig(), overrides or PriceOverrides(), tables=[table])
    return read_mart(lake, table, where)


def lake_days(lake: Lake) -> list[date]:
    """Every day that has a partition of fact_cost, priced_usage, allocated_lines or cost_lines, oldest first."""
    tables = ("fact_cost", "priced_usage", "allocated_lines", "cost_lines")
    names = {p.name.split("=", 1)[1] for t in tables for p in lake.table_dir(t).glob("*=*")}
    return sorted(date.fromisoformat(n) for n in names)


def build_all(
    lake: Lake,
    config: InsightsConfig,
    overrides: PriceOverrides,
    tables: list[str] | None = None,
    coverage_sources: tuple[str, ...] = (),
) -> Built:
    """What `apportion run` does: each day's insight aggregates, oldest first, then the marts over them."""
    for day in lake_days(lake):
        build_insight_day(lake, config, overrides, day, coverage_sources=coverage_sources)
    return build_insights(lake, config, overrides, tables=tables)


def read_mart(lake: Lake, table: str, where: str = "true") -> list[dict]:
    with connect() as con:
        cursor = con.execute(f"select * from read_parquet($f) where {where}", {"f": str(insight_file(lake, table))})
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
