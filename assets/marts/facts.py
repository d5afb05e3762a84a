"""The marts of one day: `fact_cost` (who caused what cost) and `reconciliation` (does it add up to the sources)."""

from datetime import date
from pathlib import Path

from assets.config import Settings
from assets.lake import Lake, register_day_view, write_parquet
from assets.raw import found_nothing_reason
from assets.schemas import PRICED_USAGE, STAGED_COST_LINES, STAGED_QUARANTINE
from assets.sql import connect, load_sql

INGEST_LOG = [("source", "VARCHAR"), ("source_file", "VARCHAR"), ("unreadable_reason", "VARCHAR")]

ALLOCATED_LINES = [
    ("charge_date", "DATE"),
    ("source", "VARCHAR"),
    ("cost_category", "VARCHAR"),
    ("allocation_rule", "VARCHAR"),
    ("team", "VARCHAR"),
    ("feature", "VARCHAR"),
    ("customer", "VARCHAR"),
    ("agent", "VARCHAR"),
    ("workflow", "VARCHAR"),
    ("provider", "VARCHAR"),
    ("model", "VARCHAR"),
    ("is_retry", "BOOLEAN"),
    ("unallocated_reason", "VARCHAR"),
    ("amount", "DECIMAL(38,10)"),
    ("line_id", "VARCHAR"),
    ("line_amount", "DECIMAL(38,10)"),
    ("total_weight", "VARCHAR"),
    ("list_price", "DECIMAL(38,10)"),
]


def build_marts(settings: Settings, day: date) -> dict[str, int]:
    """Write the `fact_cost` and `reconciliation` partitions of `day`."""
    lake = Lake(settings.app.lake)
    con = connect(memory_limit=settings.app.memory_limit, temp_directory=lake.tmp_dir())
    register_day_view(con, lake, "allocated_lines", day, "allocated_lines_day", ALLOCATED_LINES)
    register_day_view(con, lake, "priced_usage", day, "priced_day", PRICED_USAGE)
    register_day_view(con, lake, "cost_lines", day, "cost_lines_day", STAGED_COST_LINES)
    register_day_view(con, lake, "quarantine", day, "quarantine_day", STAGED_QUARANTINE)
    register_day_view(con, lake, "ingest_log", day, "ingest_log_day", INGEST_LOG)
    fact_file = lake.partition_file("fact_cost", day)
    fact_params = {"charge_date": day, "coverage_sources": settings.app.coverage_sources}
    fact_rows = write_parquet(con, load_sql("marts/fact_cost"), fact_file, fact_params)
    con.execute("create or replace temp table fact_day as select * from read_parquet($f)", {"f": str(fact_file)})
    manifests = [str(lake.manifest_file(s.name, day)) for s in settings.app.sources]
    existing = [m for m in manifests if Path(m).exists()]
    con.execute(
        "create or replace temp table manifest_day as select source from read_parquet($files)"
        if existing
        else "create or replace temp view manifest_day as select null::varchar as source where false",
        {"files": existing} if existing else {},
    )
    params = {
        "charge_date": day,
        "cost_metric": settings.app.cost_metric,
        "max_quarantined_share": settings.app.max_quarantined_share,
        "reporting_currency": settings.app.reporting_currency,
        "source_names": [s.name for s in settings.app.sources],
        "source_kinds": [s.kind for s in settings.app.sources],
        "found_nothing": [found_nothing_reason(lake, s.name, day) for s in settings.app.sources],
    }
    true_up_file = lake.partition_file("true_up", day)
    true_up_rows = write_parquet(con, load_sql("marts/true_up"), true_up_file)
    con.execute("create or replace temp table true_up_day as select * from read_parquet($f)", {"f": str(true_up_file)})
    reconciliation_rows = write_parquet(
        con, load_sql("marts/reconciliation"), lake.partition_file("reconciliation", day), params
    )
    con.close()
    return {"fact_cost": fact_rows, "reconciliation": reconciliation_rows, "true_up": true_up_rows}


def incomplete_source_days(settings: Settings, days: list[date]) -> list[tuple[date, str, str]]:
    """(day, source, incomplete_reason) of each source's day among `days` that reconciliation says is not complete,
    for the end of a run; days without reconciliation are not listed."""
    lake = Lake(settings.app.lake)
    files = [str(f) for day in days for f in sorted(lake.partition_dir("reconciliation", day).glob("*.parquet"))]
    if not files:
        return []
    with connect() as con:
        return [
            (row[0], row[1], row[2])
            for row in con.execute(
                "select charge_date, source, incomplete_reason from read_parquet($f) where not complete "
                "order by charge_date, source",
                {"f": files},
            ).fetchall()
        ]
