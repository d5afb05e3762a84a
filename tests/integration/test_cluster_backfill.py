"""Dagster as on a cluster, on one machine with real parts: a PostgreSQL server as the instance storage
(`deploy/dagster.yaml`), the code location (`dagster api grpc`) and `dagster-daemon` as separate processes in their
own working folders, each run a process the code location starts, two runs at a time (QueuedRunCoordinator).

A 7-day backfill, cut by the config's backfill policy into runs of 3 days, gives the warehouse of the embedded
single-process `apportion run` over the same inputs: the same views, and in each the same rows, value for value. Then
two backfills of the same 7 days at once, one of their runs killed with SIGKILL mid-way (after its staging) and
retried by the daemon, leave every file of the lake with the same bytes as before (and as the embedded run's)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.events import DagsterEventType
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.utils import make_new_backfill_id

from assets.config import load_settings
from assets.marts.insights import MARTS
from assets.warehouse import open_warehouse
from pipelines.assets import DAILY_ASSETS
from pipelines.partitions import DAYS_PER_RUN, for_config
from pipelines.resources import ApportionConfig
from sample_data import generate
from tests.e2e.conftest import write_config

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")
START = date(2026, 11, 1)
DAYS = [START + timedelta(days=i) for i in range(7)]
SOURCES = {"cloud_bill", "openai_costs", "vendor_invoices", "app_usage"}
"""A cloud bill, a vendor's daily costs, invoices whose lines span days, the calls that split them: every layer."""
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}
"""Each run's steps in the run's own process: one process per run to kill, as a pod per run on a cluster."""
DAEMON = (
    "import dagster._daemon.controller as c; c.DEFAULT_DAEMON_INTERVAL_SECONDS = 2; "
    "from dagster._daemon.cli import main; main()"
)
"""`dagster-daemon`, its backfill loop ticking every 2 s instead of 30 s so that the test does not sit idle."""
FINISHED = {BulkActionStatus.COMPLETED_SUCCESS, BulkActionStatus.COMPLETED_FAILED, BulkActionStatus.FAILED}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def postgres() -> Iterator[str]:
    """A PostgreSQL server in a temporary folder on 127.0.0.1; as the `postgres` user when run as root, since
    initdb refuses root. Yields its URL."""
    if not (PG_BIN / "initdb").exists():
        pytest.fail(f"{PG_BIN}/initdb not found: install Debian's postgresql package (.ci/run does)")
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    folder = Path(tempfile.mkdtemp(prefix="apportion-pg-"))
    if as_user:
        shutil.chown(folder, "postgres", "postgres")
    data, port = folder / "data", free_port()
    options = f"-h 127.0.0.1 -p {port} -k {folder} -F"  # TCP on 127.0.0.1 only, socket in the folder, no fsync
    try:
        subprocess.run(
            [*as_user, PG_BIN / "initdb", "-D", data, "-U", "dagster", "--auth=trust", "--no-sync", "-E", "UTF8"],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [*as_user, PG_BIN / "pg_ctl", "-D", data, "-l", folder / "server.log", "-w", "-o", options, "start"],
            check=True,
            capture_output=True,
        )
        yield f"postgresql+psycopg2://dagster@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, PG_BIN / "pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def process(args: list[str], folder: Path, env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """`args` running in its own working folder and session; it and its children are ended on exit."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "output.log").open("w") as log:
        proc = subprocess.Popen(args, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_until(condition: Callable[[], object], what: str | Callable[[], object], timeout: float = 300) -> None:
    """Poll `condition` until true; `what` (text, or a callable for the state to show) names it on a timeout."""
    began = time.monotonic()
    while not condition():
        assert time.monotonic() - began < timeout, f"timed out waiting for {what() if callable(what) else what}"
        time.sleep(0.5)


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def lake_hashes(lake: Path) -> dict[str, str]:
    """sha256 of every file of the lake (temporaries of a killed writer and DuckDB's scratch are not the lake)."""
    files = (p for p in lake.rglob("*") if p.is_file() and "_tmp" not in p.relative_to(lake).parts)
    return {str(p.relative_to(lake)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(files)}


def warehouse_tables(warehouse: Path) -> dict[str, list[tuple]]:
    """Every view of the warehouse with all its rows, in one order."""
    with open_warehouse(warehouse) as con:
        views = con.execute(
            "select schema_name || '.' || view_name from duckdb_views() where not internal order by all"
        ).fetchall()
        return {v: con.execute(f"select * from {v} order by all").fetchall() for (v,) in views}


class Cluster:
    """The instance, as the test process sees it, and the asset graph the code location serves."""

    def __init__(self, instance: dg.DagsterInstance, config: Path) -> None:
        self.instance = instance
        self.graph = dg.Definitions(
            assets=for_config(load_settings(config), DAILY_ASSETS),
            resources={"apportion": ApportionConfig(path=str(config))},
        ).resolve_asset_graph()

    def backfill(self, days: list[date]) -> str:
        """Ask the daemon for a backfill of every daily asset over `days` (what the UI's backfill button does)."""
        backfill_id = make_new_backfill_id()
        self.instance.add_backfill(
            PartitionBackfill.from_asset_partitions(
                backfill_id=backfill_id,
                asset_graph=self.graph,
                partition_names=[str(d) for d in days],
                asset_selection=[key for a in DAILY_ASSETS for key in a.keys],
                backfill_timestamp=time.time(),
                tags={},
                dynamic_partitions_store=self.instance,
                all_partitions=False,
                title=None,
                description=None,
                run_config=IN_PROCESS,
            )
        )
        return backfill_id

    def runs(self, backfill_id: str) -> list[dg.RunRecord]:
        return list(self.instance.get_run_records(dg.RunsFilter(tags={"dagster/backfill": backfill_id})))

    def wait(self, *backfill_ids: str) -> None:
        wait_until(
            lambda: all(self.instance.get_backfill(b).status in FINISHED for b in backfill_ids),
            lambda: [(r.dagster_run.run_id, r.dagster_run.status.value) for b in backfill_ids for r in self.runs(b)],
        )
        for b in backfill_ids:
            assert self.instance.get_backfill(b).status == BulkActionStatus.COMPLETED_SUCCESS, self.runs(b)

    def run_pid(self, run_id: str) -> int | None:
        """The pid of the run's process, once it has staged its days (None before)."""
        logs = self.instance.all_logs(run_id)
        staged = any(
            e.dagster_event
            and e.dagster_event.event_type == DagsterEventType.ASSET_MATERIALIZATION
            and e.dagster_event.asset_key == dg.AssetKey("cost_lines")
            for e in logs
        )
        started = [m.group(1) for e in logs if (m := re.search(r"Started process for run \(pid: (\d+)\)", e.message))]
        return int(started[0]) if staged and started else None


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cluster-sample")
    generate(root, start=START, days=len(DAYS), calls_per_day=200, seed=5)
    return root


def config_in(folder: Path, sample: Path) -> Path:
    """`SOURCES` of the demo over `sample`, the invoices spread evenly (a usage spread makes a backfill one run)."""
    folder.mkdir()
    config = write_config(folder, sample)
    data = yaml.safe_load(config.read_text())
    data["sources"] = [{k: v for k, v in s.items() if k != "spread"} for s in data["sources"] if s["name"] in SOURCES]
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return config


def test_a_multi_run_backfill_on_postgres_equals_the_embedded_run_and_survives_a_killed_run(
    sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    embedded, cluster_config = config_in(tmp_path / "embedded", sample), config_in(tmp_path / "cluster", sample)
    began = time.monotonic()
    subprocess.run(
        [BIN / "apportion", "run", "--start", str(DAYS[0]), "--end", str(DAYS[-1]), "--config", embedded],
        check=True,
        capture_output=True,
        cwd=embedded.parent,
        env={k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"},
    )
    embedded_s = time.monotonic() - began

    home, port = tmp_path / "dagster_home", free_port()
    home.mkdir()
    instance_yaml = yaml.safe_load((REPO / "deploy" / "dagster.yaml").read_text())
    instance_yaml["run_coordinator"]["config"] = {"dequeue_interval_seconds": 1}
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance_yaml))
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        yaml.safe_dump(
            {"load_from": [{"grpc_server": {"host": "127.0.0.1", "port": port, "location_name": "apportion"}}]}
        )
    )
    with ExitStack() as stack:
        url = stack.enter_context(postgres())
        monkeypatch.setenv("DAGSTER_PG_URL", url)
        instance = stack.enter_context(dg.DagsterInstance.from_config(str(home)))  # creates the tables
        env = {**os.environ, "DAGSTER_HOME": str(home), "APPORTION_CONFIG": str(cluster_config)}
        location = stack.enter_context(
            process(
                [
                    str(BIN / "dagster"),
                    "api",
                    "grpc",
                    "-m",
                    "pipelines.definitions",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                ],
                tmp_path / "location",
                env,
            )
        )
        wait_until(lambda: listening(port) or location.poll() is not None, "the code location")
        assert location.poll() is None, (tmp_path / "location" / "output.log").read_text()
        stack.enter_context(
            process([sys.executable, "-c", DAEMON, "run", "-w", str(workspace)], tmp_path / "daemon", env)
        )
        cluster = Cluster(instance, cluster_config)

        began = time.monotonic()
        first = cluster.backfill(DAYS)
        cluster.wait(first)
        backfill_s = time.monotonic() - began
        runs = cluster.runs(first)
        spans = sorted(
            (
                r.dagster_run.tags["dagster/asset_partition_range_start"],
                r.dagster_run.tags["dagster/asset_partition_range_end"],
            )
            for r in runs
        )
        # runs of DAYS_PER_RUN days; insight_aggregates, which reads the day before it, goes in runs of its own once
        # that day is in, so each chunk may have two runs
        assert sorted(set(spans)) == [
            ("2026-11-01", "2026-11-03"),
            ("2026-11-04", "2026-11-06"),
            ("2026-11-07", "2026-11-07"),
        ]
        assert DAYS_PER_RUN == 3
        # at least two runs at once, each in its own process
        assert any(a.start_time < b.end_time and b.start_time < a.end_time for a in runs for b in runs if a is not b)
        staging_pids = [pid for r in runs if (pid := cluster.run_pid(r.dagster_run.run_id)) is not None]
        assert len(staging_pids) == 3 and len(set(staging_pids)) == 3

        expected = warehouse_tables(embedded.parent / "out" / "warehouse.duckdb")
        got = warehouse_tables(cluster_config.parent / "out" / "warehouse.duckdb")
        # the embedded run also builds the insight marts, which a backfill of the daily assets leaves out
        assert set(expected) - set(got) == {f"marts.{m.name}" for m in MARTS}
        assert {v: len(rows) for v, rows in got.items()} == {v: len(expected[v]) for v in got}
        for view, rows in got.items():
            assert rows == expected[view], view
        assert len(got["marts.fact_cost"]) > 0 and len(got["staging.usage_events"]) > 7 * 50
        lake = cluster_config.parent / "out" / "lake"
        before = lake_hashes(lake)
        # and the lake itself, file for file, byte for byte; but the embedded one has the insight marts besides, and
        # the parse cache of billing deliveries (staging/_deliveries) names the raw files by their path in its own lake
        embedded_lake = lake_hashes(embedded.parent / "out" / "lake")
        insights = {k for k in embedded_lake if k.split("/")[:2] in [["marts", m.name] for m in MARTS]}
        assert set(embedded_lake) - set(before) == insights
        tables = [k for k in before if not k.startswith("staging/_deliveries/")]
        assert len(tables) > 100
        assert {k: before[k] for k in tables} == {k: embedded_lake[k] for k in tables}

        # two backfills of the same days at once; the first run that has staged its days is killed mid-way
        second, third = cluster.backfill(DAYS[:DAYS_PER_RUN]), cluster.backfill(DAYS[:DAYS_PER_RUN])
        victims: list[tuple[str, int]] = []

        def a_run_staged() -> bool:
            started = [
                r
                for b in (second, third)
                for r in cluster.runs(b)
                if r.dagster_run.status == dg.DagsterRunStatus.STARTED
            ]
            victims.extend(
                (r.dagster_run.run_id, pid) for r in started if (pid := cluster.run_pid(r.dagster_run.run_id))
            )
            return bool(victims)

        wait_until(a_run_staged, "a run that has staged its days")
        killed, pid = victims[0]
        os.kill(pid, signal.SIGKILL)
        cluster.wait(second, third)
        assert instance.get_run_by_id(killed).status == dg.DagsterRunStatus.FAILURE
        retries = [r for b in (second, third) for r in cluster.runs(b) if r.dagster_run.parent_run_id == killed]
        assert [r.dagster_run.status for r in retries] == [dg.DagsterRunStatus.SUCCESS]
        # the two backfills' runs of the same days ran at the same time
        (a,), (b,) = (
            [
                r
                for r in cluster.runs(x)
                if r.dagster_run.parent_run_id is None and cluster.run_pid(r.dagster_run.run_id)
            ]
            for x in (second, third)
        )
        assert a.start_time < b.end_time and b.start_time < a.end_time
        assert lake_hashes(lake) == before
        assert not [p for p in lake.rglob(".*.tmp-*")], "temporaries of the killed run left in the lake"

    print(f"\nembedded apportion run: {embedded_s:.1f} s; multi-run backfill (2 at once): {backfill_s:.1f} s")
