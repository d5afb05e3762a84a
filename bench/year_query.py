"""The year query (issue 16): a year of daily `fact_cost` partitions at bench scale, written directly by DuckDB, the
warehouse published over them, and how long "cost by team and month for the year" takes through it.

`.venv/bin/python -m bench.year_query [--rows-per-day N] [--days D] [--root DIR]`. The default of 432,000 rows a day
is what the 10M-call bench day can produce at most: 6 teams × 12 features × 150 customers × 4 agents × 5 models ×
retry or not. Target: ≤ 2 s on 2 cores. The CPU time is printed too: on a shared machine the wall time
measures the neighbours as well.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import time
from datetime import date, timedelta
from pathlib import Path

from assets.lake import Lake, write_parquet
from assets.sql import connect
from assets.warehouse import open_warehouse, publish_warehouse
from bench.generate import MODELS, TEAMS, _list

FIRST = date(2025, 11, 1)
YEAR_QUERY = (
    "select date_trunc('month', charge_date)::date as month, team, sum(amount_usd) as cost_usd "
    "from fact_cost group by all order by month, cost_usd desc"
)
"""README's "cost by team per month" over the whole year."""

DAY_ROWS = f"""
with r as (select i, hash(i, $day) as h from range($rows) t(i))
select
    {_list(TEAMS)}[(1 + h % {len(TEAMS)})::bigint] as team,
    'feature_' || (h >> 8) % 12 as feature,
    'cust_' || lpad(((h >> 16) % 150)::varchar, 4, '0') as customer,
    'agent_' || (h >> 24) % 4 as agent,
    'workflow_' || (h >> 24) % 4 as workflow,
    {_list([p for p, _ in MODELS])}[(1 + (h >> 28) % {len(MODELS)})::bigint] as provider,
    {_list([m for _, m in MODELS])}[(1 + (h >> 28) % {len(MODELS)})::bigint] as model,
    'inference' as cost_category,
    'llm_api_by_priced_usage' as allocation_rule,
    'bill' as source,
    (h >> 32) % 100 < 7 as is_retry,
    null::varchar as unallocated_reason,
    ((h >> 36) % 10000000)::decimal(38, 10) / 100000 as amount_usd,
    0::decimal(38, 10) as list_price_usd,
    0::decimal(38, 10) as true_up_usd,
    ((h >> 40) % 100000)::bigint as input_tokens,
    ((h >> 44) % 10000)::bigint as output_tokens,
    ((h >> 48) % 100)::bigint as requests
from r
"""


def write_year(lake: Lake, days: int, rows_per_day: int, distinct_days: int = 7) -> None:
    """`days` daily fact_cost partitions from FIRST, `rows_per_day` rows each, one file per day as the pipeline
    writes them. `distinct_days` files are generated and copied (not linked) round-robin to the other days: the
    query reads every byte of every day either way, and generating 365 days on a shared 2-core machine takes ~45 min."""
    with connect(threads=2) as con:
        for i in range(min(days, distinct_days)):
            day = FIRST + timedelta(days=i)
            write_parquet(con, DAY_ROWS, lake.partition_file("fact_cost", day), {"day": day, "rows": rows_per_day})
    for i in range(distinct_days, days):
        target = lake.partition_file("fact_cost", FIRST + timedelta(days=i))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(lake.partition_file("fact_cost", FIRST + timedelta(days=i % distinct_days)), target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows-per-day", type=int, default=432_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--root", type=Path, default=Path("/tmp/apportion-year-query"))
    args = parser.parse_args()
    shutil.rmtree(args.root, ignore_errors=True)
    lake, warehouse = Lake(args.root / "lake"), args.root / "warehouse.duckdb"

    began = time.perf_counter()
    write_year(lake, args.days, args.rows_per_day)
    generated = time.perf_counter() - began
    began = time.perf_counter()
    publish_warehouse(lake, warehouse)
    published = time.perf_counter() - began
    seconds, cpu = [], []
    for _ in range(3):  # each on a new connection, as a reader opening the warehouse would
        began, used = time.perf_counter(), _cpu_seconds()
        with open_warehouse(warehouse) as con:
            rows = con.execute(YEAR_QUERY).fetchall()
        seconds.append(time.perf_counter() - began)
        cpu.append(_cpu_seconds() - used)
    size = sum(p.stat().st_size for p in lake.table_dir("fact_cost").rglob("*.parquet"))
    print(
        f"| fact_cost | {args.days} daily partitions × {args.rows_per_day:,} rows = "
        f"{args.days * args.rows_per_day:,} rows, {size / 1e9:.2f} GB Parquet, generated in {generated:.1f} s |\n"
        f"| publish the warehouse | {published:.2f} s |\n"
        f"| cost by team and month for the year ({len(rows)} rows) | wall: first {seconds[0]:.2f} s, best of 3 "
        f"{min(seconds):.2f} s; CPU (user + sys, all threads): {min(cpu):.2f} s |\n"
        f"| load average during the run | {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores |"
    )


def _cpu_seconds() -> float:
    """CPU time of this process, every thread: what the query costs whatever else the machine runs."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
