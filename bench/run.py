"""One command for the benchmark: `make bench` (or `python -m bench.run --calls 10000000 --cost-lines 1000000`);
`--case cur --cur-rows 1000000` runs the real-bill case instead (`bench/cur.py`); `--case history --days 60
--calls 100000` the history re-run (`history` below).

Generates one day of calls and cost lines, runs that day's partition through `apportion run` under
`/usr/bin/time -v` (wall time and peak RSS of the whole process), times a bare DuckDB scan and group-by of the same
usage Parquet, and prints a Markdown table. With `--backfill-days N` it also runs N days and compares with N times
one day, and reports how long the last day took against the first (does history slow a nightly run?).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from bench import cur
from bench.generate import write_bill, write_usage
from bench.timing import timed

REPO = Path(__file__).resolve().parent.parent
DAY = date(2026, 11, 1)


def write_config(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    config = root / "apportion.yaml"
    config.write_text(
        f"""warehouse: out/warehouse.duckdb
lake: out/lake
allocation: {REPO / "config" / "allocation.yaml"}
prices: {REPO / "config" / "prices.yaml"}
memory_limit: 3GB
sources:
  - {{name: bill, kind: focus, path: "bill/{{date}}.parquet"}}
  - {{name: app_usage, kind: usage_parquet, path: "usage/{{date}}/*.parquet"}}
"""
    )
    return config


def timed_run(config: Path, start: date, end: date) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in GB, what the run printed: the seconds of each step) of `apportion run`."""
    apportion = str(Path(sys.executable).parent / "apportion")
    result = timed([apportion, "run", "--start", start.isoformat(), "--end", end.isoformat(), "--config", str(config)])
    if result.returncode != 0:
        sys.exit(f"apportion run failed:\n{result.stdout}\n{result.stderr}")
    return result.seconds, result.rss_gb, " ".join(result.stdout.split())


def bare_scan(usage: Path) -> float:
    """Seconds for DuckDB to scan the usage Parquet and group it the way allocation does."""
    from assets.sql import connect

    began = time.perf_counter()
    with connect() as con:
        con.execute(
            "select provider, model, api_key_id, team, feature, customer, agent, workflow, attempt > 1, "
            "sum(input_tokens), sum(output_tokens), count(*) "
            f"from read_parquet('{usage}/*.parquet') group by all"
        ).fetchall()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", choices=["calls", "cur", "history"], default="calls")
    parser.add_argument("--days", type=int, default=60, help="days of history of `--case history`")
    parser.add_argument("--cur-rows", type=int, default=1_000_000, help="rows of the CUR of `--case cur`")
    parser.add_argument("--calls", type=int, default=10_000_000)
    parser.add_argument("--cost-lines", type=int, default=1_000_000)
    parser.add_argument("--backfill-days", type=int, default=0)
    parser.add_argument("--backfill-calls", type=int, default=200_000)
    parser.add_argument("--root", type=Path, default=REPO / "bench" / "out")
    args = parser.parse_args()
    if args.case == "cur":
        cur.measure(args.root / "cur", args.cur_rows)
        return
    if args.case == "history":
        rows = history(args.root / "history", args.days, args.calls, args.cost_lines)
        print("| measure | result |\n|---|---|")
        for name, value in rows:
            print(f"| {name} | {value} |")
        return

    root = args.root
    config = write_config(root)
    began = time.perf_counter()
    write_usage(root / "usage" / DAY.isoformat(), DAY, args.calls)
    write_bill(root / "bill" / f"{DAY.isoformat()}.parquet", DAY, args.cost_lines)
    generated = time.perf_counter() - began
    wall, rss, steps = timed_run(config, DAY, DAY)
    scan = bare_scan(root / "usage" / DAY.isoformat())
    rows = [
        (
            "machine",
            f"{os.cpu_count()} cores, {_memory_gb():.0f} GB, {platform.machine()}, Python {platform.python_version()}",
        ),
        ("data", f"{args.calls:,} calls, {args.cost_lines:,} cost lines (generated in {generated:.1f} s)"),
        ("one day, `apportion run` wall time", f"{wall:.1f} s (target ≤ 60 s)"),
        ("peak RSS", f"{rss:.2f} GB (target ≤ 4 GB)"),
        ("calls per second", f"{args.calls / wall:,.0f}"),
        ("bare DuckDB scan + group-by of the usage Parquet", f"{scan:.2f} s"),
        ("ratio pipeline / bare scan", f"{wall / scan:.1f} (target ≤ 3)"),
        ("where the time went (`apportion run` output)", steps),
    ]
    if args.backfill_days:
        rows += backfill(root / "backfill", args.backfill_days, args.backfill_calls, args.cost_lines // 10)
    print("| measure | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


def backfill(root: Path, days: int, calls: int, cost_lines: int) -> list[tuple[str, str]]:
    config = write_config(root)
    # daily partitions end yesterday: a range that would reach today starts earlier
    first = min(DAY, date.today() - timedelta(days=days))
    last = first + timedelta(days=days - 1)
    for offset in range(days):
        day = first + timedelta(days=offset)
        write_usage(root / "usage" / day.isoformat(), day, calls)
        write_bill(root / "bill" / f"{day.isoformat()}.parquet", day, cost_lines)
    one, _, one_steps = timed_run(config, first, first)
    all_days, rss, _ = timed_run(config, first, last)
    again_last, _, last_steps = timed_run(config, last, last)
    return [
        (
            f"backfill of {days} days × {calls:,} calls",
            f"{all_days:.1f} s = {all_days / one:.1f} × one day "
            f"({one:.1f} s; target ≤ {days} ×), peak RSS {rss:.2f} GB",
        ),
        (
            f"nightly re-run of day {days} with {days - 1} days of history",
            f"{again_last:.1f} s: the day's layers {_day_seconds(last_steps):.1f} s (first day "
            f"{_day_seconds(one_steps):.1f} s), the insight marts over the whole history "
            f"{_insights_seconds(last_steps):.1f} s (first day {_insights_seconds(one_steps):.1f} s)",
        ),
    ]


def history(root: Path, days: int, calls: int, cost_lines: int, repeats: int = 3) -> list[tuple[str, str]]:
    """Re-running the last of `days` days with the others in the lake, against re-running the same day in a lake
    that holds only it: both whole `apportion run`s of that day (its layers, its insight aggregates, the insight
    marts over the history), each after a first run of the day, so that both land nothing new; taken in turns,
    `repeats` times each (the median), so that a change in the machine's load hits both. Target: ≤ 1.5 ×."""
    first = min(DAY, date.today() - timedelta(days=days))
    last = first + timedelta(days=days - 1)
    data, alone = root / "with_history", root / "alone"
    began = time.perf_counter()
    for offset in range(days):
        day = first + timedelta(days=offset)
        write_usage(data / "usage" / day.isoformat(), day, calls)
        write_bill(data / "bill" / f"{day.isoformat()}.parquet", day, cost_lines)
    generated = time.perf_counter() - began
    history_config, alone_config = write_config(data), write_config(alone)
    for folder in ("usage", "bill"):
        (alone / folder).mkdir(parents=True, exist_ok=True)
    (alone / "usage" / last.isoformat()).symlink_to(data / "usage" / last.isoformat())
    (alone / "bill" / f"{last.isoformat()}.parquet").symlink_to(data / "bill" / f"{last.isoformat()}.parquet")
    timed_run(alone_config, last, last)
    backfill_s, _, _ = timed_run(history_config, first, last)
    runs: dict[str, list[tuple[float, float, str]]] = {"alone": [], "history": []}
    for _ in range(repeats):
        runs["alone"].append(timed_run(alone_config, last, last))
        runs["history"].append(timed_run(history_config, last, last))
    one, one_rss, one_steps = sorted(runs["alone"])[repeats // 2]
    again, again_rss, again_steps = sorted(runs["history"])[repeats // 2]
    return [
        ("data", f"{days} days × {calls:,} calls and {cost_lines:,} cost lines (generated in {generated:.1f} s)"),
        (f"backfill of the {days} days, one `apportion run`", f"{backfill_s:.1f} s"),
        (
            f"re-run of day {days} alone in its lake (median of {repeats}: "
            + ", ".join(f"{r[0]:.1f}" for r in runs["alone"])
            + ")",
            f"{one:.1f} s (the day's layers {_day_seconds(one_steps):.1f} s, insight marts "
            f"{_insights_seconds(one_steps):.1f} s), peak RSS {one_rss:.2f} GB",
        ),
        (
            f"re-run of day {days} with {days - 1} days of history (median of {repeats}: "
            + ", ".join(f"{r[0]:.1f}" for r in runs["history"])
            + ")",
            f"{again:.1f} s (the day's layers {_day_seconds(again_steps):.1f} s, insight marts "
            f"{_insights_seconds(again_steps):.1f} s), peak RSS {again_rss:.2f} GB",
        ),
        ("ratio with history / alone (medians)", f"{again / one:.2f} (target ≤ 1.5)"),
        ("where the time went, alone (`apportion run` output)", one_steps),
        ("where the time went, with history", again_steps),
    ]


def _day_seconds(steps: str) -> float:
    """Seconds of the partitioned layers in `apportion run` output (raw and staging, then each day)."""
    return sum(float(s) for s in re.findall(r"\d{4}-\d\d-\d\d[^:]*: (?:raw and staging: )?done in ([\d.]+)s", steps))


def _insights_seconds(steps: str) -> float:
    return float(re.search(r"insights: done in ([\d.]+)s", steps).group(1))


def _memory_gb() -> float:
    with open("/proc/meminfo") as handle:
        return int(handle.readline().split()[1]) / 1024 / 1024


if __name__ == "__main__":
    main()
