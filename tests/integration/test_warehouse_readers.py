"""Readers and the nightly publish never wait for each other: reader processes (plain DuckDB clients) hold or cycle
read-only connections while days land and the warehouse is published again and again, and every answer is a
complete published state."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from assets.lake import Lake
from assets.warehouse import publish_warehouse
from tests.warehouse_fixtures import fact_row, write_partition

FIRST = date(2026, 11, 1)
DAYS = 6
STATE_QUERY = (
    "select (select count(distinct charge_date) from fact_cost), (select sum(amount_usd) from fact_cost)::varchar, "
    "(select sum(source_total) from reconciliation)::varchar"
)
READER = """
import json, sys, time
from pathlib import Path
import duckdb

warehouse, mode, stop, ready = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
query = sys.argv[5]
answers, queries, failures, errors = {}, 0, 0, []

def open_warehouse(path):  # as a notebook would, following README's "Querying"
    con = duckdb.connect(str(path), read_only=True, config={"file_search_path": str(path.parent)})
    con.execute("set search_path = 'marts,allocation,pricing,staging,raw,main'")
    return con

def ask(con):
    global queries, failures
    try:
        key = json.dumps(con.execute(query).fetchall()[0])
        answers[key] = answers.get(key, 0) + 1
        queries += 1
    except Exception as exc:
        failures += 1
        errors.append(str(exc)[:300])

if mode == "hold":
    with open_warehouse(warehouse) as con:
        ask(con)
        ready.touch()
        while not stop.exists():
            ask(con)
            time.sleep(0.01)
else:
    while not stop.exists():
        try:
            with open_warehouse(warehouse) as con:
                ask(con)
        except Exception as exc:
            failures += 1
            errors.append(str(exc)[:300])
        ready.touch()
print(json.dumps({"answers": answers, "queries": queries, "failures": failures, "errors": errors[:5]}))
"""


def land_day(lake: Lake, day: date, cents: int) -> None:
    """A day's fact_cost, then (a moment later, as the pipeline does) its reconciliation: the same total."""
    amount = Decimal(cents) / 100
    write_partition(lake, "fact_cost", day, [fact_row(str(amount / 2), team="search"), fact_row(str(amount / 2))])
    time.sleep(0.05)
    write_partition(lake, "reconciliation", day, [{"source": "openai_costs", "source_total": amount}])


def state(days: int) -> str:
    """The answer of STATE_QUERY once `days` days are published."""
    total = f"{sum(Decimal(10_000 + d) / 100 for d in range(days)):.10f}"
    return json.dumps([days, total, total])


def test_readers_never_block_a_publish_and_always_see_a_complete_published_state(tmp_path: Path):
    lake, warehouse = Lake(tmp_path / "lake"), tmp_path / "warehouse.duckdb"
    land_day(lake, FIRST, 10_000)
    publish_warehouse(lake, warehouse)
    stop = tmp_path / "stop"
    modes = ["hold", "cycle", "cycle"]
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", READER, str(warehouse), mode, str(stop), str(tmp_path / f"ready-{i}"), STATE_QUERY],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, mode in enumerate(modes)
    ]
    try:
        deadline = time.monotonic() + 60
        while not all((tmp_path / f"ready-{i}").exists() for i in range(len(modes))):
            assert time.monotonic() < deadline, "readers did not start"
            assert all(r.poll() is None for r in readers), [r.communicate() for r in readers]
            time.sleep(0.05)
        published = []
        for i in range(1, DAYS):
            land_day(lake, FIRST + timedelta(days=i), 10_000 + i)  # between the two writes, a half-landed day
            began = time.monotonic()
            publish_warehouse(lake, warehouse)  # never waits for the readers
            published.append(time.monotonic() - began)
        time.sleep(0.5)
    finally:
        stop.touch()
        results = [json.loads(r.communicate(timeout=60)[0]) for r in readers]
    states = {state(d) for d in range(1, DAYS + 1)}
    hold, *cycles = results
    queries = sum(r["queries"] for r in results)
    failures = sum(r["failures"] for r in results)
    print(f"readers {len(readers)}, queries answered {queries}, failures {failures}, publishes {len(published)}")
    assert failures == 0, [r["errors"] for r in results]
    assert set(hold["answers"]) == {state(1)}, "a connection opened before the publishes keeps its snapshot"
    for cycle in cycles:
        assert set(cycle["answers"]) <= states, "an answer that is not a published state (a half-landed day)"
        assert state(DAYS) in cycle["answers"], "a connection opened after the last publish sees it"
    assert hold["queries"] > DAYS and all(c["queries"] > DAYS for c in cycles)
    assert max(published) < 10
