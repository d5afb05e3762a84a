"""Orchestration on a real Dagster instance: definitions load with `dg`, the nightly schedule asks for yesterday
plus the lookback, a single-run backfill of a range materializes every layer and passes the blocking checks."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import pytest

from assets.checks import INVARIANTS
from assets.lake import Lake
from assets.marts.insights import MARTS
from pipelines.assets import DAILY_ASSETS
from pipelines.checks import ALL_CHECKS
from pipelines.definitions import defs
from pipelines.insights import INSIGHT_CHECKS
from pipelines.resources import ApportionConfig
from sample_data import generate
from tests.e2e.conftest import write_config

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dagster")
    generate(root / "sample", start=date(2026, 11, 1), days=2, calls_per_day=500, seed=3)
    return write_config(root, root / "sample")


def test_definitions_load_with_dg_cli():
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dg"), "check", "defs"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_layer_is_a_daily_asset_and_the_warehouse_writer_is_pooled():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {
        "raw_files",
        "cost_lines",
        "usage_events",
        "usage_metrics",
        "quarantine",
        "priced_usage",
        "allocated_lines",
        "fact_cost",
        "reconciliation",
        "warehouse",
    } <= keys
    warehouse = defs.resolve_assets_def("warehouse")
    assert warehouse.op.pool == "duckdb_writer"
    layers = {k for k in keys if graph.get(dg.AssetKey(k)).group_name != "insights"}
    assert all(graph.get(dg.AssetKey(k)).partitions_def is not None for k in layers)
    # only the money invariants hold back what is downstream; a row-count imbalance fails the run, not the day
    checks = {c.name: c.blocking for spec in ALL_CHECKS for c in spec.check_specs}
    assert checks == {
        "rows_in_equal_rows_out": False,
        "pieces_conserve_each_line": True,
        "reconciliation_difference_is_zero": True,
    }
    # the FOCUS export and the insight marts are upstream of no daily table
    assert graph.get(dg.AssetKey("focus_export")).child_keys == set()
    for mart in MARTS:  # over the daily insight aggregates, which the day's graph writes
        assert graph.get(dg.AssetKey(mart.name)).child_keys == {dg.AssetKey("insights_warehouse")}, mart.name
        assert graph.get(dg.AssetKey(mart.name)).parent_keys == {dg.AssetKey("insight_aggregates")}, mart.name
    assert dg.AssetKey("focus_export") not in graph.get(dg.AssetKey("warehouse")).parent_keys
    alerts = {c.name: c.blocking for spec in INSIGHT_CHECKS for c in spec.check_specs}
    assert alerts == {"budgets_on_track": False, "no_cost_anomalies": False}


def test_nightly_schedule_runs_yesterday_and_the_lookback_window(config: Path):
    schedule = defs.resolve_schedule_def("nightly")
    assert schedule.cron_schedule == "0 2 * * *" and schedule.execution_timezone == "UTC"
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 10, 2, 0, tzinfo=UTC),
        resources={"apportion": ApportionConfig(path=str(config))},
    )
    requests = list(schedule(context))
    assert [r.partition_key for r in requests] == ["2026-11-06", "2026-11-07", "2026-11-08", "2026-11-09"]
    assert requests[-1].run_key == "2026-11-09@2026-11-10"


def test_single_run_backfill_of_a_range_materializes_and_checks_every_day(config: Path, tmp_path: Path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = dg.materialize(
            [*DAILY_ASSETS, *ALL_CHECKS],
            instance=instance,
            resources={"apportion": ApportionConfig(path=str(config))},
            tags={
                "dagster/asset_partition_range_start": "2026-11-01",
                "dagster/asset_partition_range_end": "2026-11-02",
            },
        )
        assert result.success
        evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
        assert set(evaluations) == {*INVARIANTS, "sources_landed"}
        assert all(e.passed for e in evaluations.values())
        assert {evaluations[name].metadata["days"].value for name in INVARIANTS} == {"2026-11-01, 2026-11-02"}
        assert evaluations["sources_landed"].metadata["failures"].value == []
        materialized = instance.get_materialized_partitions(dg.AssetKey("fact_cost"))
        assert materialized == {"2026-11-01", "2026-11-02"}
    lake = Lake(config.parent / "out" / "lake")
    assert lake.partition_file("fact_cost", date(2026, 11, 2)).exists()
