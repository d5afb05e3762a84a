"""The deployment as it runs in production: `dagster-webserver` and `dagster-daemon` on 127.0.0.1 with the project's
own `dagster.yaml`, a 3-day partition backfill launched through the GraphQL API the UI uses, and the warehouse it
leaves behind.

Everything lives in a temp folder that is DAGSTER_HOME and the processes' working directory (the relative `var/…`
paths of `dagster.yaml` resolve there), so nothing is written into the repo. The processes always stop (SIGTERM,
then SIGKILL of their process groups); on failure the tails of their logs are printed.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from assets.warehouse import open_warehouse
from sample_data import generate
from tests.e2e.conftest import write_config

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
LOCATION = "apportion"
JOB = "nightly"
START = date(2026, 11, 1)
DAYS = [START + timedelta(days=i) for i in range(3)]

READY_TIMEOUT_S = 180  # webserver up and code location loaded (~5 s idle; the machine is shared)
BACKFILL_TIMEOUT_S = 480  # daemon ticks every ~30 s: 60-90 s idle, ~180 s seen at load 10 on 2 cores
STOP_TIMEOUT_S = 30  # SIGTERM → exit; SIGKILL after this
HTTP_TIMEOUT_S = 15
PR_SET_PDEATHSIG = 1
LOG_TAIL_LINES = 60
TERMINAL_BACKFILL_STATES = {"COMPLETED_SUCCESS", "COMPLETED_FAILED", "COMPLETED", "FAILED", "CANCELED"}

T = TypeVar("T")
LOCAL_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1 only: never via a proxy

WORKSPACE_QUERY = """
query {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on RepositoryLocation {
            repositories { name jobs { name } assetNodes { assetKey { path } jobNames isMaterializable } }
          }
          ... on PythonError { message stack }
        }
      }
    }
    ... on PythonError { message }
  }
}
"""

LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on Error { message }
  }
}
"""

BACKFILL_STATUS = """
query($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      status
      numPartitions
      partitionNames
      error { message }
      runs(limit: 50) { runId status }
    }
    ... on PythonError { message }
    ... on BackfillNotFoundError { message }
  }
}
"""


@dataclass
class Deployment:
    home: Path
    url: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)
    repository: dict[str, Any] = field(default_factory=dict)
    """The code location's repository as GraphQL shows it: jobs and asset nodes."""
    ready_s: float = 0.0

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The `data` of a GraphQL answer; GraphQL-level errors fail the test with their messages."""
        request = urllib.request.Request(
            f"{self.url}/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with LOCAL_HTTP.open(request, timeout=HTTP_TIMEOUT_S) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as error:  # a PythonError result or a GraphQL error: HTTP 500/400, JSON body
            body = error.read().decode(errors="replace")
            try:
                answer = json.loads(body)
            except ValueError:
                pytest.fail(f"{query.strip().splitlines()[0]} → HTTP {error.code}: {body[:4000]}")
        assert not answer.get("errors"), answer["errors"]
        return answer["data"]

    def assert_running(self) -> None:
        for name, process in self.processes.items():
            assert process.poll() is None, f"{name} exited with code {process.returncode}"

    def log_tails(self) -> str:
        parts = []
        for name, path in self.logs.items():
            lines = path.read_text(errors="replace").splitlines() if path.exists() else []
            parts.append(f"----- last {LOG_TAIL_LINES} lines of {path} ({name}) -----")
            parts.extend(lines[-LOG_TAIL_LINES:])
        return "\n".join(parts)


@contextmanager
def logs_shown_on_failure(deployment: Deployment) -> Iterator[None]:
    """Print the processes' log tails if the block fails (pytest shows captured output of failed tests)."""
    try:
        yield
    except BaseException:
        print(deployment.log_tails())
        raise


def configured_sources(home: Path) -> set[str]:
    """The source names of the apportion.yaml `write_config` wrote (the demo config's sources)."""
    return {source["name"] for source in yaml.safe_load((home / "apportion.yaml").read_text())["sources"]}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def write_workspace(home: Path) -> Path:
    """workspace.yaml loading the code location from the repo, as `[tool.dagster] module_name` names it."""
    workspace = home / "workspace.yaml"
    workspace.write_text(
        "load_from:\n"
        "  - python_module:\n"
        "      module_name: pipelines.definitions\n"
        f"      working_directory: {json.dumps(str(REPO))}\n"
        f"      location_name: {LOCATION}\n"
    )
    return workspace


def prepare_home(home: Path) -> dict[str, str]:
    """DAGSTER_HOME with the project's dagster.yaml, a workspace, a small sample and its apportion.yaml; the env."""
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    write_workspace(home)
    sample = home / "sample"
    generate(sample, start=DAYS[0], days=len(DAYS), calls_per_day=500, seed=5)
    config = write_config(home, sample)
    return {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "APPORTION_CONFIG": str(config),
        "NO_COLOR": "1",
        "PYTHONUNBUFFERED": "1",
    }


def init_instance(home: Path, env: dict[str, str]) -> None:
    """Create the instance's SQLite storage before the services start: a webserver and a daemon initializing an
    empty storage at the same moment can stamp its alembic version twice, and then neither loads the code location
    ("Version table 'alembic_version' has more than one head present", dagster-io/dagster#27390)."""
    result = subprocess.run(
        [str(BIN / "dagster"), "instance", "migrate"], cwd=home, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def terminate_with_parent() -> None:
    """In the child before exec: SIGTERM if the test process dies without its teardown (killed by a CI timeout),
    since a process in its own session would otherwise outlive it. Linux only (prctl PR_SET_PDEATHSIG)."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def start(name: str, args: list[str], home: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path]:
    """A process in its own session (so its children can be stopped with it), output to `<home>/<name>.log`."""
    log = home / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / args[0]), *args[1:]],
            cwd=home,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=terminate_with_parent,
        )
    return process, log


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, wait, then SIGKILL whatever is left of its process group (code servers, run workers)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_TIMEOUT_S)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=STOP_TIMEOUT_S)


def poll(what: str, check: Callable[[], T | None], timeout_s: float, interval_s: float) -> T:
    """Call `check` until it returns something other than None; fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


def loaded_location(deployment: Deployment) -> dict[str, Any] | None:
    """The repository of the code location once the webserver answers and has loaded it; None until then."""
    deployment.assert_running()
    try:
        data = deployment.graphql(WORKSPACE_QUERY)
    except (urllib.error.URLError, ConnectionError, TimeoutError):  # not listening yet (HTTP errors fail)
        return None
    workspace = data["workspaceOrError"]
    assert workspace["__typename"] == "Workspace", workspace
    entries = {e["name"]: e for e in workspace["locationEntries"]}
    assert LOCATION in entries, f"no code location {LOCATION!r}: {sorted(entries)}"
    entry = entries[LOCATION]
    if entry["loadStatus"] != "LOADED" or entry["locationOrLoadError"] is None:
        return None
    location = entry["locationOrLoadError"]
    assert location["__typename"] == "RepositoryLocation", f"code location failed to load: {location}"
    (repository,) = location["repositories"]
    return repository


def job_asset_keys(repository: dict[str, Any]) -> list[list[str]]:
    return [n["assetKey"]["path"] for n in repository["assetNodes"] if n["isMaterializable"] and JOB in n["jobNames"]]


def finished_backfill(deployment: Deployment, backfill_id: str) -> dict[str, Any] | None:
    deployment.assert_running()
    backfill = deployment.graphql(BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]
    assert backfill["__typename"] == "PartitionBackfill", backfill
    return backfill if backfill["status"] in TERMINAL_BACKFILL_STATES else None


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    """dagster-webserver and dagster-daemon from the project's settings, up and with the code location loaded."""
    env = prepare_home(tmp_path)
    init_instance(tmp_path, env)
    port = str(free_port())
    deployment = Deployment(tmp_path, f"http://{HOST}:{port}")
    started = time.monotonic()
    try:
        for name, args in {
            "webserver": ["dagster-webserver", "-h", HOST, "-p", port, "-w", "workspace.yaml"],
            "daemon": ["dagster-daemon", "run", "-w", "workspace.yaml"],
        }.items():
            deployment.processes[name], deployment.logs[name] = start(name, args, tmp_path, env)
        with logs_shown_on_failure(deployment):
            deployment.repository = poll(
                "the code location to load", lambda: loaded_location(deployment), READY_TIMEOUT_S, 0.5
            )
        deployment.ready_s = time.monotonic() - started
        yield deployment
    finally:
        for process in reversed(deployment.processes.values()):  # the daemon first: it launches runs
            stop(process)


@pytest.mark.slow
def test_a_backfill_launched_over_graphql_fills_the_warehouse(deployment: Deployment):
    with logs_shown_on_failure(deployment):
        assert JOB in {j["name"] for j in deployment.repository["jobs"]}
        asset_keys = job_asset_keys(deployment.repository)
        assert {"raw_files", "cost_lines", "allocated_lines", "fact_cost", "reconciliation", "warehouse"} <= {
            "/".join(k) for k in asset_keys
        }

        started = time.monotonic()
        params = {
            "partitionNames": [d.isoformat() for d in DAYS],
            "assetSelection": [{"path": k} for k in asset_keys],
            "fromFailure": False,
            "title": "live deployment test",
        }
        launched = deployment.graphql(LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", f"launch refused: {launched.get('message')}"
        backfill = poll(
            "the backfill to finish",
            lambda: finished_backfill(deployment, launched["backfillId"]),
            BACKFILL_TIMEOUT_S,
            1.0,
        )
        backfill_s = time.monotonic() - started
        assert backfill["status"] == "COMPLETED_SUCCESS", backfill
        assert backfill["numPartitions"] == len(DAYS)
        assert backfill["runs"] and {r["status"] for r in backfill["runs"]} == {"SUCCESS"}, backfill["runs"]

        with open_warehouse(deployment.home / "out" / "warehouse.duckdb") as con:
            reconciliation = con.execute("select charge_date, source, difference from marts.reconciliation").fetchall()
            fact_days = con.execute("select distinct charge_date from marts.fact_cost order by 1").fetchall()
        assert sorted((day, source) for day, source, _ in reconciliation) == sorted(
            (day, source) for day in DAYS for source in configured_sources(deployment.home)
        )
        assert {difference for *_, difference in reconciliation} == {Decimal(0)}
        assert [day for (day,) in fact_days] == DAYS
    print(
        f"live deployment: code location loaded in {deployment.ready_s:.1f} s, "
        f"backfill of {len(DAYS)} days ({len(backfill['runs'])} run(s)) finished in {backfill_s:.1f} s"
    )
