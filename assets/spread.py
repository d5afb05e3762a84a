"""Spreading a cost line whose charge period spans several days over those days: evenly, or by a usage driver.

The weights come from `sql/staging/line_spread.sql` (exact telescoping shares); this module gives that model what
it needs from the lake: the driver's daily usage over the periods of the day's lines, and which of those days are
staged. A day counts as staged when every configured source of the driver's table has landed the day and, if it
had files, staged them (`<table>/<date>/<source>.parquet`); `coverage` sources (a vendor's count of the calls it
served) are neither usage nor waited for. Usage sources are staged before cost sources spread by usage
(`assets.staging.stage_days`), so a one-run backfill of a period sees the usage of every day of it.
"""

from datetime import date, timedelta

import duckdb

from assets.config import EVENT_KEYS, METRIC_KEYS, Settings, Source
from assets.lake import Lake, register_files_view
from assets.matching import Params, match_sql
from assets.schemas import STAGED_USAGE_EVENTS, STAGED_USAGE_METRICS
from assets.sql import connect, run_model, run_sql

USAGE_VIEWS = {
    "usage_events": ("spread_usage_events", STAGED_USAGE_EVENTS),
    "usage_metrics": ("spread_usage_metrics", STAGED_USAGE_METRICS),
}


def staged_days(settings: Settings, table: str, days: list[date]) -> list[date]:
    """The days among `days` whose `table` partitions hold every configured source that had files that day."""
    lake = Lake(settings.app.lake)
    sources = [s.name for s in settings.app.sources if s.target == table and s.role == "driver"]
    manifests = {(s, d): lake.manifest_file(s, d) for s in sources for d in days}
    landed = [str(p) for p in manifests.values() if p.exists()]
    with connect() as con:
        files_listed = dict(
            con.execute(
                "select filename, count(*) from read_parquet($f, filename = true) group by filename", {"f": landed}
            ).fetchall()
            if landed
            else []
        )
    return [
        d
        for d in days
        if all(
            manifests[(s, d)].exists()
            and (not files_listed.get(str(manifests[(s, d)])) or lake.partition_file(table, d, s).exists())
            for s in sources
        )
    ]


def _period_days(con: duckdb.DuckDBPyConnection, day: date) -> list[date]:
    """Every day of the periods of the lines in `src_staged` that charge on `day`."""
    first, last = con.execute(
        "select min(ChargePeriodStart::date), max((ChargePeriodEnd - interval 1 microsecond)::date) from src_staged "
        "where ChargePeriodStart < ($d::date + 1)::timestamptz and ChargePeriodEnd > $d::date::timestamptz",
        {"d": day},
    ).fetchall()[0]
    if first is None:
        return []
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def spread_lines(con: duckdb.DuckDBPyConnection, settings: Settings, source: Source, day: date) -> None:
    """Create `line_spread`: the weights of `day` for every line of `src_staged` charging on it (see the model)."""
    spread = source.spread
    table = spread.usage_table
    days = _period_days(con, day) if table else []
    staged = staged_days(settings, table, days) if table else []
    lake = Lake(settings.app.lake)
    coverage = {f"{name}.parquet" for name in settings.app.coverage_sources}  # a vendor's count, not usage
    for usage_table, (view, columns) in USAGE_VIEWS.items():
        usage_days = staged if usage_table == table else []
        files = sorted(
            str(p)
            for d in usage_days
            for p in lake.partition_dir(usage_table, d).glob("*.parquet")
            if p.name not in coverage
        )
        register_files_view(con, files, view, columns)
    driver = spread.driver or ""
    metric = driver.removeprefix("metric:") if driver.startswith("metric:") else None
    keys = dict.fromkeys((*EVENT_KEYS, *METRIC_KEYS))
    match = {f"m_{k}": spread.match.get(k) for k in keys}
    run_model(con, "staging/spread_driver", {"driver": driver, "metric": metric, **match})
    lines = Params()
    by_usage = match_sql(spread.lines, lines) if table else "false"
    run_sql(
        con,
        f"create or replace temp table usage_spread_lines as select _file, _row from src_staged l where {by_usage}",
        lines.values,
    )
    run_model(con, "staging/line_spread", {"charge_date": day, "spread_driver": driver, "staged_days": staged})
