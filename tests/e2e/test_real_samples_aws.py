"""Every AWS sample export in `../shared/samples`, laid out as AWS delivers it (or as a user downloads it), through
every layer with `apportion run` (raw, staging, pricing, allocation, marts, FOCUS exports, insight marts): each day
reconciles to the file's own total, computed here in Decimal over the raw rows by the documented formulas.

The formulas, as README documents them: `BilledCost` is the unblended cost and `EffectiveCost` the amortized cost by
the standard CASE over the line item type (FORMATS-CLOUD §1.3); each input is kept to 10 decimals (DECIMAL(38,10),
rounded half away from zero) and a blank input counts as 0. A line whose charge period spans n days (a monthly tax)
gets on its i-th day `trunc(A·i/n) − trunc(A·(i−1)/n)` units of 1e-10, so its days add up to it exactly."""

from __future__ import annotations

import csv
import gzip
import json
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pytest

from assets.marts.insights import INSIGHT_TABLES
from tests.focus_validator.runner import validate_export
from tests.samples import sample

REPO = Path(__file__).resolve().parents[2]
UNIT = Decimal("1e-10")
ZERO = Decimal(0)
Row = dict[str, str]


@dataclass(frozen=True)
class Case:
    file: str
    layout: str
    """`legacy` (period folder + manifest, gzipped CSV), `cur2` (metadata/ + data/, Parquet) or `file` (the file
    itself, as downloaded by hand)."""
    start: date
    end: date


CASES = {
    "legacy_cur": Case(
        "aws/focus_converters_legacy_cur_anonymized.csv", "legacy", date(2023, 11, 1), date(2023, 11, 4)
    ),
    "legacy_savings_plan": Case(
        "aws/koku_legacy_cur_2023-06-01_savingsplan.csv", "legacy", date(2023, 6, 1), date(2023, 6, 3)
    ),
    "legacy_monthly_lines": Case("aws/koku_test_cur.csv", "legacy", date(2018, 6, 1), date(2018, 6, 3)),
    "cur2": Case(
        "synthetic/cur2_synthetic_BILLING_PERIOD=2025-01.parquet", "cur2", date(2025, 1, 14), date(2025, 1, 16)
    ),
    "legacy_cur_downloaded": Case(
        "aws/focus_converters_legacy_cur_anonymized.csv", "file", date(2023, 11, 29), date(2023, 11, 30)
    ),
}


# ---------------------------------------------------------------------------------------------------------------
# The expected amounts, from the raw rows


def _key(name: str) -> str:
    """A column name with case and separators ignored: `lineItem/UnblendedCost` = `line_item_unblended_cost`."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def raw_rows(path: Path) -> list[Row]:
    """The sample's rows as text, keyed by normalised column name (doubles as their shortest decimal text)."""
    if path.suffix == ".parquet":
        con = duckdb.connect()
        cursor = con.execute("select * from read_parquet($f)", {"f": str(path)})
        names = [_key(d[0]) for d in cursor.description]
        return [
            {n: "" if v is None else repr(v) if isinstance(v, float) else str(v) for n, v in zip(names, r, strict=True)}
            for r in cursor.fetchall()
        ]
    with path.open(newline="", encoding="utf-8") as f:
        return [{_key(k): v for k, v in r.items()} for r in csv.DictReader(f)]


def money(row: Row, column: str) -> Decimal:
    text = row.get(_key(column), "").strip()
    return Decimal(text).quantize(UNIT, ROUND_HALF_UP) if text else ZERO


def amortized(row: Row) -> Decimal:
    """FORMATS-CLOUD §1.3, term by term."""
    kind = row[_key("line_item_line_item_type")]
    if kind == "SavingsPlanCoveredUsage":
        return money(row, "savings_plan_savings_plan_effective_cost")
    if kind == "SavingsPlanRecurringFee":
        return money(row, "savings_plan_total_commitment_to_date") - money(row, "savings_plan_used_commitment")
    if kind in ("SavingsPlanNegation", "SavingsPlanUpfrontFee"):
        return ZERO
    if kind == "DiscountedUsage":
        return money(row, "reservation_effective_cost")
    if kind == "RIFee":
        return money(row, "reservation_unused_amortized_upfront_fee_for_billing_period") + money(
            row, "reservation_unused_recurring_fee"
        )
    if kind == "Fee" and row.get(_key("reservation_reservation_a_r_n"), "").strip():
        return ZERO
    if (
        kind == "Refund"
        and row.get(_key("line_item_product_code")) == "ComputeSavingsPlans"
        and row.get(_key("line_item_line_item_description"), "").startswith(
            "Refund for one-time fee for Savings Plan ID"
        )
    ):
        return ZERO
    return money(row, "line_item_unblended_cost")


def instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text.strip())
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _toward_zero(a: int, b: int) -> int:
    return abs(a) // b * (1 if a >= 0 else -1)


def day_shares(row: Row, amount: Decimal) -> Iterator[tuple[date, Decimal]]:
    """The line's amount over the days of its charge period, as staging spreads it evenly."""
    first = instant(row[_key("line_item_usage_start_date")]).date()
    last = (instant(row[_key("line_item_usage_end_date")]) - timedelta(microseconds=1)).date()
    n = (last - first).days + 1
    units = int(amount / UNIT)
    for i in range(1, n + 1):
        yield first + timedelta(days=i - 1), (_toward_zero(units * i, n) - _toward_zero(units * (i - 1), n)) * UNIT


@dataclass
class Expected:
    billed: dict[date, Decimal]
    effective: dict[date, Decimal]
    lines: dict[date, int]
    billed_total: Decimal
    effective_total: Decimal


def expected(rows: list[Row]) -> Expected:
    billed: dict[date, Decimal] = defaultdict(Decimal)
    effective: dict[date, Decimal] = defaultdict(Decimal)
    lines: dict[date, int] = defaultdict(int)
    for row in rows:
        for day, share in day_shares(row, money(row, "line_item_unblended_cost")):
            billed[day] += share
            lines[day] += 1
        for day, share in day_shares(row, amortized(row)):
            effective[day] += share
    return Expected(
        billed,
        effective,
        lines,
        sum((money(r, "line_item_unblended_cost") for r in rows), ZERO),
        sum((amortized(r) for r in rows), ZERO),
    )


# ---------------------------------------------------------------------------------------------------------------
# The sample laid out as its export, and the run


def lay_out(case: Case, root: Path) -> Path:
    """The sample where `apportion` expects it; returns the source's `path`."""
    source = sample(case.file)
    if case.layout == "file":
        return source
    export = root / "bucket" / "cur" / "ai-costs"
    if case.layout == "cur2":
        period = re.search(r"BILLING_PERIOD=(\d{4}-\d{2})", source.name)
        assert period, source.name
        data = export / "data" / f"BILLING_PERIOD={period[1]}" / "ai-costs-00001.snappy.parquet"
        data.parent.mkdir(parents=True)
        data.write_bytes(source.read_bytes())
        manifest = export / "metadata" / f"BILLING_PERIOD={period[1]}" / "ai-costs-Manifest.json"
        listed = {"dataFiles": [f"s3://bucket/cur/ai-costs/{data.relative_to(export).as_posix()}"]}
    else:
        month = instant(raw_rows(source)[0][_key("bill_billing_period_start_date")]).date()
        end = (month + timedelta(days=32)).replace(day=1)
        folder = export / f"{month:%Y%m%d}-{end:%Y%m%d}"
        data = folder / "asm-1" / "ai-costs-00001.csv.gz"
        data.parent.mkdir(parents=True)
        data.write_bytes(gzip.compress(source.read_bytes()))
        manifest = folder / "ai-costs-Manifest.json"
        listed = {"assemblyId": "asm-1", "reportKeys": [f"cur/ai-costs/{data.relative_to(export).as_posix()}"]}
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps(listed))
    # AWS writes the manifest after the files it lists
    os.utime(manifest, (time.time() + 1, time.time() + 1))
    return export


@dataclass
class Run:
    lake: Path
    seconds: float
    output: str


def apportion_run(case: Case, root: Path, currency: str) -> Run:
    """`apportion run` over the case's days, reporting in the bill's currency (koku's sample bills in NOK)."""
    path = lay_out(case, root)
    config = root / "apportion.yaml"
    config.write_text(
        f"warehouse: out/warehouse.duckdb\nlake: out/lake\nstart_date: 2018-01-01\n"
        f"allocation: {REPO / 'config' / 'allocation.yaml'}\n"
        f"prices: {REPO / 'config' / 'prices.yaml'}\nmemory_limit: 1GB\nreporting_currency: {currency}\n"
        f"sources:\n  - {{name: aws_bill, kind: aws_cur, path: '{path}'}}\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "APPORTION_CONFIG")}
    began = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.cli",
            "run",
            "--start",
            str(case.start),
            "--end",
            str(case.end),
            "-c",
            config,
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    seconds = time.perf_counter() - began
    assert done.returncode == 0, done.stdout + done.stderr
    return Run(root / "out" / "lake", seconds, done.stdout)


FOCUS_VALIDATED = ("legacy_savings_plan", "legacy_monthly_lines")
"""The samples whose FOCUS 1.2 export the FinOps Foundation's validator checks too (a run of it takes ~10 s). The
others' units (`Hrs`, `GB-Mo`) are not yet in FOCUS's unit format."""


def per_day(lake: Path, query: str) -> dict[date, tuple]:
    con = duckdb.connect()
    return {r[0]: tuple(r[1:]) for r in con.execute(query.replace("LAKE", str(lake))).fetchall()}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_every_aws_sample_reconciles_every_day_through_every_layer(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    rows = raw_rows(sample(case.file))
    want = expected(rows)
    (currency,) = {r.get(_key("line_item_currency_code")) or "USD" for r in rows}
    run = apportion_run(case, tmp_path, currency)
    days = [case.start + timedelta(days=i) for i in range((case.end - case.start).days + 1)]
    assert any(want.lines[d] for d in days), "the range must hold some of the sample's lines"

    reconciliation = per_day(
        run.lake,
        "select charge_date, cost_lines, rows_quarantined, source_total, allocated + unallocated, difference, complete "
        "from read_parquet('LAKE/marts/reconciliation/*/*.parquet', hive_partitioning = true)",
    )
    assert reconciliation == {d: (want.lines[d], 0, want.effective[d], want.effective[d], 0, True) for d in days}, (
        run.output
    )
    facts = per_day(
        run.lake,
        "select charge_date, sum(amount_usd) from read_parquet('LAKE/marts/fact_cost/*/*.parquet', "
        "hive_partitioning = true) group by 1",
    )
    assert {d: v[0] for d, v in facts.items()} == {d: want.effective[d] for d in days if want.lines[d]}
    for version in ("1.2", "1.3"):
        focus = per_day(
            run.lake,
            f"select charge_date, sum(BilledCost), sum(EffectiveCost), count(distinct x_LineId) from read_parquet("
            f"'LAKE/export/focus_{version}/*/data.parquet', hive_partitioning = true) group by 1",
        )
        assert focus == {d: (want.billed[d], want.effective[d], want.lines[d]) for d in days if want.lines[d]}, version
    for table in INSIGHT_TABLES:
        assert (run.lake / "marts" / table / "data.parquet").is_file(), table
    if name in FOCUS_VALIDATED:
        report = validate_export([run.lake / "export" / "focus_1.2"])
        print(f"{name}: focus-validator: {report.summary}")
        assert report.findings() == {}, report.failures
    print(
        f"{name}: {case.file}: {sum(want.lines[d] for d in days)} line-days over {len(days)} days in {run.seconds:.1f}s"
    )


@pytest.mark.slow
def test_the_legacy_samples_whole_month_stages_to_the_files_totals(tmp_path: Path) -> None:
    """Over its whole billing period, the staged days of the legacy sample (its export layout) hold exactly each
    day's share, and together the file's own totals: 1,281 rows, the 12 month-long tax lines on all 30 days."""
    from assets.config import load_settings
    from assets.raw import land_day
    from assets.staging import stage_days

    case = CASES["legacy_cur"]
    rows = raw_rows(sample(case.file))
    want = expected(rows)
    november = [date(2023, 11, 1) + timedelta(days=i) for i in range(30)]
    assert len(rows) == 1281 and sorted(want.lines) == november
    assert sum(1 for r in rows if r[_key("line_item_line_item_type")] == "Tax") == 12
    path = lay_out(case, tmp_path)
    (tmp_path / "apportion.yaml").write_text(
        f"lake: lake\nallocation: {REPO / 'config' / 'allocation.yaml'}\nprices: {REPO / 'config' / 'prices.yaml'}\n"
        f"sources:\n  - {{name: aws_bill, kind: aws_cur, path: '{path}'}}\n"
    )
    settings = load_settings(tmp_path / "apportion.yaml")
    for day in november:
        land_day(settings, day)
    stage_days(settings, november)
    staged = per_day(
        tmp_path / "lake",
        "select charge_date, sum(BilledCost), sum(EffectiveCost), count(*) from read_parquet("
        "'LAKE/staging/cost_lines/*/*.parquet', hive_partitioning = true) group by 1",
    )
    assert staged == {d: (want.billed[d], want.effective[d], want.lines[d]) for d in november}
    assert (
        sum(v[0] for v in staged.values())
        == want.billed_total
        == sum(money(r, "line_item_unblended_cost") for r in rows)
    )
    assert sum(v[1] for v in staged.values()) == want.effective_total == want.billed_total
