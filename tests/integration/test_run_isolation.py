"""One failure never stops the rest: `apportion run` goes through every day when a day's FOCUS export or staging
fails, the failed day still gets its fact_cost and reconciliation, and the run ends with a table of what failed
(exit 1). In Dagster the same: the nightly job of a day whose export fails still materializes the marts and the
warehouse. And `start_date:` bounds the days that can run, in the CLI and the code location alike."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

import assets.raw
import assets.staging
import pipelines.assets
import pipelines.checks
import pipelines.cli
from assets.export.focus import FocusExportError
from assets.lake import Lake
from assets.sql import connect
from pipelines.assets import DAILY_ASSETS
from pipelines.checks import ALL_CHECKS
from pipelines.cli import app
from pipelines.partitions import starting_on
from pipelines.resources import ApportionConfig
from pipelines.schedules import nightly_days, nightly_job
from sample_data import generate
from tests.e2e.conftest import write_config

START = date(2026, 11, 1)
DAYS = [START + timedelta(days=i) for i in range(3)]
SOURCES = {"cloud_bill", "app_usage"}
"""A FOCUS bill and the calls that split it: enough for every layer, small enough to run three days in seconds."""


@pytest.fixture(autouse=True)
def wide_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """The failure table as a 250-column terminal shows it, whatever COLUMNS the tests run under."""
    monkeypatch.setattr(pipelines.cli, "console", Console(width=250))
    monkeypatch.setattr(pipelines.cli, "err", Console(stderr=True, width=250))


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("isolation-sample")
    generate(root, start=START, days=len(DAYS), calls_per_day=100, seed=2)
    return root


def small_config(root: Path, sample: Path, **settings: object) -> Path:
    config = write_config(root, sample)
    data = yaml.safe_load(config.read_text())
    data["sources"] = [s for s in data["sources"] if s["name"] in SOURCES]
    config.write_text(yaml.safe_dump({**data, **settings}, sort_keys=False))
    return config


def cli(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def lake_rows(config: Path, query: str) -> list[tuple]:
    lake = Lake(config.parent / "out" / "lake")
    with connect() as con:
        for table in ("fact_cost", "reconciliation", "cost_lines"):
            con.execute(
                f"create view {table} as select * from read_parquet('{lake.glob(table)}', "
                "hive_partitioning = true, hive_types = {'charge_date': date})"
            )
        return con.execute(query).fetchall()


def assert_every_day_reconciles(config: Path) -> None:
    """fact_cost and reconciliation of every day landed, and fact_cost sums to the staged cost lines of each."""
    facts = dict(lake_rows(config, "select charge_date, sum(amount_usd) from fact_cost group by 1"))
    lines = dict(lake_rows(config, "select charge_date, sum(EffectiveCost) from cost_lines group by 1"))
    assert set(facts) == set(DAYS)
    assert facts == lines
    assert all(total > 0 for total in facts.values())
    differences = lake_rows(config, "select charge_date, difference from reconciliation")
    assert {day for day, _ in differences} == set(DAYS)
    assert {diff for _, diff in differences} == {Decimal(0)}


def table_rows(output: str, width: int) -> list[tuple[str, ...]]:
    """The rows of the closing tables that have `width` columns."""
    rows = [line.strip()[1:-1].split("│") for line in output.splitlines() if line.startswith("│")]
    return [tuple(cell.strip() for cell in row) for row in rows if len(row) == width]


def failure_rows(output: str) -> list[tuple[str, ...]]:
    """The rows of the closing failure table: day, asset / step, reason, file and row."""
    return table_rows(output, 4)


def refuse_day(day: date, real):
    """`export_focus_versions` that refuses `day` as the real export does, naming a file and row."""

    def export(settings, first, last, out_dirs):
        if first <= day <= last:
            raise FocusExportError(
                f"cannot export {day} as FOCUS: 1 cost line(s) break its rules, e.g.\n"
                "  bill-00001.csv row 7 (source cloud_bill): ChargeFrequency is null on a Tax charge"
            )
        return real(settings, first, last, out_dirs)

    return export


def test_a_day_whose_export_fails_still_gets_its_marts_and_the_other_days_run(tmp_path, sample, monkeypatch):
    config = small_config(tmp_path, sample)
    monkeypatch.setattr(
        pipelines.assets, "export_focus_versions", refuse_day(DAYS[1], pipelines.assets.export_focus_versions)
    )

    result = cli("run", "--start", str(DAYS[0]), "--end", str(DAYS[-1]), "--config", str(config))

    assert result.exit_code == 1, result.output
    assert_every_day_reconciles(config)
    exported = sorted(p.parent.name for p in (config.parent / "out" / "lake" / "export").glob("focus_1.3/*/*"))
    assert exported == [f"charge_date={DAYS[0]}", f"charge_date={DAYS[2]}"]
    assert failure_rows(result.output) == [
        (
            str(DAYS[1]),
            "focus_export",
            f"FocusExportError: cannot export {DAYS[1]} as FOCUS: 1 cost line(s) break its rules, e.g.",
            "bill-00001.csv row 7",
        )
    ]
    assert "bill-00001.csv row 7 (source cloud_bill): ChargeFrequency is null on a Tax charge" in result.output
    assert "insights: done" in result.output


def test_a_day_whose_staging_fails_is_listed_and_the_other_day_runs(tmp_path, sample, monkeypatch):
    config = small_config(tmp_path, sample)
    real = assets.staging.stage_days

    def stage_days(settings, days):
        if DAYS[1] in days:
            raise ValueError(f"{sample}/usage/{DAYS[1]}/calls.jsonl:3: provider: cannot be inferred")
        return real(settings, days)

    monkeypatch.setattr(assets.staging, "stage_days", stage_days)

    result = cli("run", "--start", str(DAYS[0]), "--end", str(DAYS[1]), "--config", str(config))

    assert result.exit_code == 1, result.output
    assert "staging day by day" in result.output
    assert lake_rows(config, "select distinct charge_date from fact_cost") == [(DAYS[0],)]
    assert failure_rows(result.output) == [
        (str(DAYS[1]), "staging_tables", f"ValueError: {sample}/usage/{DAYS[1]}/calls.jsonl:3: provider: cannot be "
         "inferred", "calls.jsonl row 3"),
        (str(DAYS[1]), "quarantine_rows_in_equal_rows_out", "not run: a step or blocking check before it failed", ""),
        (str(DAYS[1]), "every later layer", "not run: raw and staging failed", ""),
    ]  # fmt: skip


def test_a_day_before_start_date_is_refused_naming_the_setting_before_any_data_is_touched(tmp_path, sample):
    config = small_config(tmp_path, sample, start_date=str(DAYS[1]))

    result = cli("run", "--start", str(DAYS[0]), "--end", str(DAYS[-1]), "--config", str(config))

    assert result.exit_code == 2
    assert f"--start {DAYS[0]} is before start_date {DAYS[1]}" in result.output
    assert "`start_date:` in" in result.output and str(config) in result.output.replace("\n", "")
    assert not (config.parent / "out").exists()


def test_an_early_start_date_lets_old_days_run_and_the_nightly_window_stops_at_it(tmp_path, sample):
    config = small_config(tmp_path, sample, start_date="2019-06-01")
    assert [a.partitions_def.start.date() for a in starting_on(date(2019, 6, 1), DAILY_ASSETS)] == [
        date(2019, 6, 1)
    ] * len(DAILY_ASSETS)
    assert nightly_days(date(2019, 6, 3), 5, date(2019, 6, 1)) == [date(2019, 6, 1), date(2019, 6, 2)]

    result = cli("run", "--start", "2019-06-01", "--end", "2019-06-01", "--config", str(config))

    assert result.exit_code == 0, result.output
    assert "2019-06-01: done" in result.output
    assert "no history yet" in result.output


def test_the_nightly_job_of_a_day_whose_export_fails_still_materializes_the_marts(tmp_path, sample, monkeypatch):
    config = small_config(tmp_path, sample)
    monkeypatch.setattr(
        pipelines.assets, "export_focus_versions", refuse_day(DAYS[0], pipelines.assets.export_focus_versions)
    )
    definitions = dg.Definitions(
        assets=starting_on(START, DAILY_ASSETS),
        asset_checks=ALL_CHECKS,
        jobs=[nightly_job],
        resources={"apportion": ApportionConfig(path=str(config))},
    )
    instance = dg.DagsterInstance.ephemeral()

    result = definitions.resolve_job_def("nightly").execute_in_process(
        partition_key=str(DAYS[0]), instance=instance, raise_on_error=False
    )

    assert not result.success
    failed = [e.step_key for e in result.all_events if e.is_step_failure]
    assert failed == ["focus_export"]
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {"fact_cost", "reconciliation", "true_up", "warehouse"} <= materialized
    assert "focus_export" not in materialized
    facts = lake_rows(config, f"select sum(amount_usd) from fact_cost where charge_date = '{DAYS[0]}'")
    lines = lake_rows(config, f"select sum(EffectiveCost) from cost_lines where charge_date = '{DAYS[0]}'")
    assert facts == lines and facts[0][0] > 0
    assert lake_rows(config, "select distinct difference from reconciliation") == [(Decimal(0),)]


def test_a_failed_row_balance_fails_the_run_but_holds_back_nothing(tmp_path, sample, monkeypatch):
    config = small_config(tmp_path, sample)
    real = pipelines.checks.find_violations

    def find_violations(lake, invariant, days):
        if invariant.table == "ingest_log":
            return [("app_usage", "calls.jsonl", 100, 98, 1)]
        return real(lake, invariant, days)

    monkeypatch.setattr(pipelines.checks, "find_violations", find_violations)

    result = cli("run", "--start", str(DAYS[0]), "--end", str(DAYS[0]), "--config", str(config))

    assert result.exit_code == 1, result.output
    assert "staging day by day" not in result.output
    assert failure_rows(result.output) == [
        (
            str(DAYS[0]),
            "check rows_in_equal_rows_out",
            "1 files whose rows do not balance",
            "calls.jsonl",
        )
    ]
    facts = lake_rows(config, "select charge_date, sum(amount_usd) from fact_cost group by 1")
    assert facts == lake_rows(config, "select charge_date, sum(EffectiveCost) from cost_lines group by 1")
    assert facts and facts[0][0] == DAYS[0]


def test_a_source_that_fails_to_land_is_listed_and_the_days_other_sources_are_staged(tmp_path, sample, monkeypatch):
    config = small_config(tmp_path, sample)
    real = assets.raw.local_files

    def local_files(source, base, day):
        if day == DAYS[1] and source.name == "app_usage":
            raise ConnectionError("usage store at 127.0.0.1:9 refused the connection")
        return real(source, base, day)

    monkeypatch.setattr(assets.raw, "local_files", local_files)

    result = cli("run", "--start", str(DAYS[0]), "--end", str(DAYS[1]), "--config", str(config))

    assert result.exit_code == 1, result.output
    assert "staging day by day" not in result.output
    assert failure_rows(result.output) == [
        (
            str(DAYS[1]),
            "raw_files: source app_usage",
            "ConnectionError: usage store at 127.0.0.1:9 refused the connection",
            "",
        )
    ]
    assert (
        f"{DAYS[1]} raw_files: source app_usage: ConnectionError: usage store at 127.0.0.1:9 refused the connection"
        in result.output.splitlines()
    )
    # the table of incomplete source days names the day the calls are missing from
    assert table_rows(result.output, 3) == [(str(DAYS[1]), "app_usage", "no file landed for the day: land it first")]
    # the bill of the day is staged, allocated and reconciled without the calls; the day says it lacks them
    facts = dict(lake_rows(config, "select charge_date, sum(amount_usd) from fact_cost group by 1"))
    assert facts == dict(lake_rows(config, "select charge_date, sum(EffectiveCost) from cost_lines group by 1"))
    assert set(facts) == set(DAYS[:2])
    with connect() as con:
        calls = con.execute(
            "select event_date, count(*) from read_parquet($g, hive_partitioning = true) group by 1 order by 1",
            {"g": Lake(config.parent / "out" / "lake").glob("usage_events")},
        ).fetchall()
    assert [str(day) for day, _ in calls] == [str(DAYS[0])]
    complete = lake_rows(config, "select charge_date, source, complete, difference from reconciliation order by 1, 2")
    assert [(day, source, done) for day, source, done, _ in complete if not done] == [(DAYS[1], "app_usage", False)]
    assert {diff for *_, diff in complete} == {Decimal(0)}
