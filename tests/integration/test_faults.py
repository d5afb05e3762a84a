"""Faults: a run killed with SIGKILL and re-run, two runs at once, a restated file, a missing or unreadable
source, an output location that cannot be written. Each ends in the same warehouse a clean run gives, or in a
clear error that leaves nothing half-written."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from assets.warehouse import open_warehouse
from bench.lake_hash import differences, digests, lake_digests
from sample_data import generate
from tests.e2e.conftest import write_config

APPORTION = str(Path(sys.executable).parent / "apportion")
DAYS = ("2026-11-01", "2026-11-02")


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("faults-sample")
    generate(root, start=date(2026, 11, 1), days=2, calls_per_day=1_000, seed=5)
    return root


def fresh(tmp_path: Path, sample: Path, name: str) -> Path:
    """A config in its own folder over a private copy of the sample."""
    root = tmp_path / name
    shutil.copytree(sample, root / "sample")
    return write_config(root, root / "sample")


def run(config: Path, *extra: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [APPORTION, "run", "--start", DAYS[0], "--end", DAYS[-1], "--config", str(config), *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def lake_digest(config: Path) -> dict[str, str]:
    """Every file of the run's lake but the delivery cache (a cache of parses, not output) by its sha256."""
    return lake_digests(config.parent / "out" / "lake")


def warehouse(config: Path, query: str) -> list[tuple]:
    with open_warehouse(config.parent / "out" / "warehouse.duckdb") as con:
        return con.execute(query).fetchall()


@pytest.fixture(scope="module")
def clean_config(tmp_path_factory: pytest.TempPathFactory, sample: Path) -> Path:
    config = fresh(tmp_path_factory.mktemp("clean"), sample, "clean")
    run(config)
    return config


@pytest.fixture(scope="module")
def clean(clean_config: Path) -> dict[str, str]:
    return lake_digest(clean_config)


def test_a_run_killed_mid_way_and_run_again_equals_a_clean_run(tmp_path, sample, clean):
    config = fresh(tmp_path, sample, "killed")
    process = subprocess.Popen(
        [APPORTION, "run", "--start", DAYS[0], "--end", DAYS[-1], "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    lake = config.parent / "out" / "lake"
    deadline = time.monotonic() + 60
    while not any((lake / "staging").rglob("*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    run(config)
    assert lake_digest(config) == clean


def test_two_runs_at_once_leave_the_same_warehouse_as_one(tmp_path, sample, clean):
    config = fresh(tmp_path, sample, "concurrent")
    command = [APPORTION, "run", "--start", DAYS[0], "--end", DAYS[-1], "--config", str(config)]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    second = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    outputs = [p.communicate(timeout=300)[0] for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs
    assert lake_digest(config) == clean
    assert warehouse(config, "select count(*) from reconciliation where difference <> 0") == [(0,)]


def test_a_restated_file_replaces_the_day_and_never_duplicates(tmp_path, sample, clean_config):
    config = fresh(tmp_path, sample, "restated")
    run(config)
    # before the restatement, a second clean run of the sample: the same lake byte for byte and the same warehouse
    # relations (columns and rows) as the first, by `bench.lake_hash` (its check that a refactoring changed nothing)
    first, second = (
        digests(c.parent / "out" / "lake", c.parent / "out" / "warehouse.duckdb") for c in (clean_config, config)
    )
    assert differences(first, second) == []
    assert sum(name.startswith("warehouse:") for name in first) > 20
    assert sum(name.endswith(".parquet") for name in first) > 50
    bill = config.parent / "sample" / "focus" / DAYS[0] / "cloud_bill.csv"
    lines = bill.read_text().splitlines()
    bill.write_text("\n".join(lines[:-1]) + "\n")  # AWS re-delivers the day without its last line
    run(config)
    day = f"charge_date = '{DAYS[0]}'"
    staged = warehouse(config, f"select count(*) from cost_lines where {day} and x_Source = 'cloud_bill'")
    assert staged == [(len(lines) - 2,)]  # the header and the dropped line
    assert warehouse(config, f"select cost_lines from reconciliation where {day} and source = 'cloud_bill'") == staged
    assert warehouse(config, "select sum(difference) from reconciliation") == [(Decimal(0),)]


def test_a_missing_source_marks_the_day_incomplete_and_the_others_proceed(tmp_path, sample):
    config = fresh(tmp_path, sample, "missing")
    shutil.rmtree(config.parent / "sample" / "openai_api" / DAYS[1])
    shutil.rmtree(config.parent / "sample" / "anthropic_api" / DAYS[1])
    (config.parent / "sample" / "usage" / DAYS[0] / "calls.jsonl").write_bytes(b"\xff\xfe not utf-8 at all\n")
    run(config)
    rows = warehouse(config, "select charge_date::varchar, source, complete, difference from reconciliation")
    incomplete = {(d, s) for d, s, complete, _ in rows if not complete}
    vendor_pages = {(DAYS[1], s) for s in ("openai_costs", "anthropic_costs", "openai_usage", "anthropic_usage")}
    assert incomplete == vendor_pages | {(DAYS[0], "app_usage")}
    (reason,) = warehouse(config, "select reason from quarantine where source = 'app_usage'")[0]
    assert reason.startswith("unreadable file: ")
    assert {diff for *_, diff in rows} == {Decimal(0)}
    assert warehouse(config, f"select count(*) > 0 from fact_cost where charge_date = '{DAYS[1]}'") == [(True,)]


def test_an_output_location_that_cannot_be_written_fails_clearly_and_writes_nothing(tmp_path, sample):
    config = fresh(tmp_path, sample, "unwritable")
    (config.parent / "out").write_text("a file where the output folder should be")
    result = run(config, check=False)
    assert result.returncode != 0
    message = result.stdout + result.stderr
    assert "out" in message and ("Not a directory" in message or "not a directory" in message), message
    assert (config.parent / "out").read_text() == "a file where the output folder should be"
