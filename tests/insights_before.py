"""The insight marts as they were computed before they became incremental: every mart's SQL over the whole
history of calls and costs (tests/fixtures/insights_before/, the models as of commit 92e4905, attribution_coverage
with the spend of flagged calls added in bb69eef), kept only so that tests can assert that the marts over the daily
aggregates give the same numbers."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

from assets.lake import Lake, write_parquet
from assets.marts.insights import (
    INSIGHT_TABLES,
    _parameters,
    band_masks,
    budgets_table,
    insight_file,
    load_business_metrics,
    register_history,
    routing_table,
)
from assets.marts.insights_config import InsightsConfig
from assets.pricing import PriceOverrides, price_usage
from assets.sql import connect, run_sql

BEFORE = Path(__file__).resolve().parent / "fixtures" / "insights_before"


def _model(name: str) -> str:
    return (BEFORE / f"{name}.sql").read_text()


def build_before(
    lake: Lake, config: InsightsConfig, overrides: PriceOverrides, out: Path, coverage_sources: tuple[str, ...] = ()
) -> dict[str, Path]:
    """Every insight mart computed the old way from the history in `lake`, written to `out/<table>.parquet`."""
    con = connect(memory_limit="1GB", temp_directory=lake.tmp_dir())
    try:
        as_of = register_history(con, lake, coverage_sources)
        assert as_of is not None, "the old way is compared on a lake with history"
        duplicates = config.duplicates
        params = {
            **_parameters(config, as_of),
            "masks": band_masks(duplicates),
            "max_distance": duplicates.max_distance,
            "cache_ttl_s": duplicates.cache_ttl_hours * 3600,
        }
        load_business_metrics(con, config.business_metrics)
        con.register("budgets", budgets_table(config))
        con.register("routing_rules", routing_table(config))
        run_sql(con, _model("routing_candidates"), params)
        price_usage(con, overrides)
        con.execute(
            "create or replace temp table prompt_neighbours "
            "(provider varchar, model varchar, prompt_hash varchar, neighbour varchar)"
        )
        days = con.execute(
            "select distinct event_date from priced_usage where event_date between $since and $as_of "
            "and prompt_simhash is not null order by 1",
            {"since": params["since"], "as_of": params["as_of"]},
        ).fetchall()
        reach = timedelta(days=math.ceil(duplicates.cache_ttl_hours / 24))
        for (day,) in days:
            run_sql(con, _model("prompt_neighbours"), {**params, "day": day, "window_start": day - reach})
        run_sql(con, _model("prompt_calls"), params)
        files = {table: out / f"{table}.parquet" for table in INSIGHT_TABLES}
        for table, file in files.items():
            write_parquet(con, _model(table), file, params)
        return files
    finally:
        con.close()


ROUNDED = {"model_scorecard": ("p50_latency_ms", "p95_latency_ms")}
"""Columns compared to 1e-6 rather than to the last bit: DuckDB interpolates a quantile between two latencies in
extended precision (x86 long double), which SQL over the daily latency counts cannot reproduce: 5207.899999999999
against 5207.899999999998 ms. Every other value, money and counts above all, is compared exactly."""


def differences(lake: Lake, before: dict[str, Path]) -> dict[str, str]:
    """Per mart, how the mart in `lake` differs from the one computed the old way: its columns and types, or
    rows (as a multiset, every value exact but ROUNDED) that one has and the other has not; {} when all equal."""
    found = {}
    with connect() as con:
        for table, file in before.items():
            rounded = ", ".join(f"round({c}, 6) as {c}" for c in ROUNDED.get(table, ()))
            new, old = (
                f"(select * {f'replace ({rounded})' if rounded else ''} from read_parquet('{f}'))"
                for f in (insight_file(lake, table), file)
            )
            columns = [con.execute(f"describe select * from {r}").fetchall() for r in (new, old)]
            if columns[0] != columns[1]:
                found[table] = f"columns {columns[0]} != {columns[1]}"
                continue
            only = [
                con.execute(f"select * from (select * from {a} except all select * from {b}) limit 3").fetchall()
                for a, b in ((new, old), (old, new))
            ]
            if only[0] or only[1]:
                found[table] = f"only in the new: {only[0]}; only in the old: {only[1]}"
    return found
