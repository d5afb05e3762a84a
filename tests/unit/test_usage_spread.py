"""A cost line spanning several days spread over them by a usage driver (`spread: {method: usage, …}`): exact
telescoping shares, zero-usage days, credits, an incomplete period quarantined naming its missing days, and a
one-run backfill equal to day-by-day runs once all usage is staged."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from assets.allocation.engine import allocate
from assets.config import load_settings
from assets.lake import Lake
from assets.marts.facts import build_marts
from assets.pricing import price_day
from assets.raw import land_day
from assets.staging import stage_day, stage_days
from tests.unit.test_staging import staged

DAYS = [date(2026, 11, 1) + timedelta(days=i) for i in range(4)]
INVOICES = (
    "vendor,invoice_id,period_start,period_end,description,amount,currency,provider\n"
    "Pinecone,INV-1,2026-11-01,2026-11-04,Read units,100.00,USD,pinecone\n"
    "Pinecone,INV-1,2026-11-01,2026-11-04,Service credit,-10.00,USD,pinecone\n"
)
PINECONE_REQUESTS = {DAYS[0]: [None], DAYS[1]: [], DAYS[2]: [None, None], DAYS[3]: [3]}
"""Per day, the pinecone calls (their request_count; None counts as one request): 1, 0, 2, 3 requests."""


def write_sources(
    root: Path, spread: str = "{method: usage, driver: requests, match: {provider: pinecone}}", invoices: str = INVOICES
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "invoices.csv").write_text(invoices)
    for day, counts in PINECONE_REQUESTS.items():
        calls = [{"event_time": f"{day}T12:00:00Z", "provider": "pinecone", "request_count": n} for n in counts]
        calls += [{"event_time": f"{day}T13:00:00Z", "provider": "openai", "model": "gpt-4o"}] * 5
        folder = root / "usage" / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "calls.jsonl").write_text("".join(json.dumps(c) + "\n" for c in calls))
    (root / "allocation.yaml").write_text("rules: []\n")
    (root / "apportion.yaml").write_text(
        "allocation: allocation.yaml\nprices: null\nsources:\n"
        f"  - {{name: vendors, kind: invoice_lines, path: invoices.csv, spread: {spread}}}\n"
        "  - {name: app, kind: usage_jsonl, path: 'usage/{date}/*.jsonl'}\n"
    )
    return root / "apportion.yaml"


def shares(settings, day: date) -> list[tuple[str, Decimal, Decimal, str]]:
    return [
        (r["ChargeDescription"], r["EffectiveCost"], r["BilledCost"], r["x_SpreadMethod"])
        for r in sorted(staged(settings, "cost_lines", day), key=lambda r: r["x_SourceRow"])
    ]


def test_a_line_is_spread_by_the_days_requests_exactly(tmp_path: Path) -> None:
    settings = load_settings(write_sources(tmp_path))
    for day in DAYS:
        land_day(settings, day)
    stage_days(settings, DAYS)
    by_day = {day: shares(settings, day) for day in DAYS}
    # cumulative requests 1, 1, 3, 6: the day's share is A*C_d//6 - A*C_{d-1}//6 in units of 1e-10
    assert [s[0][1] for s in by_day.values()] == [
        Decimal("16.6666666666"),
        Decimal("0E-10"),
        Decimal("33.3333333334"),
        Decimal("50.0000000000"),
    ]
    assert [s[1][1] for s in by_day.values()] == [
        Decimal("-1.6666666666"),
        Decimal("0E-10"),
        Decimal("-3.3333333334"),
        Decimal("-5.0000000000"),
    ]
    assert sum(s[0][1] for s in by_day.values()) == Decimal("100.00")
    assert sum(s[1][1] for s in by_day.values()) == Decimal("-10.00")
    assert all(billed == effective for s in by_day.values() for _, effective, billed, _ in s)
    assert {method for s in by_day.values() for *_, method in s} == {"usage:requests"}
    assert all(not staged(settings, "quarantine", day) for day in DAYS)


def test_a_day_whose_period_usage_is_not_all_staged_is_quarantined_naming_the_missing_days(tmp_path: Path) -> None:
    settings = load_settings(write_sources(tmp_path))
    for day in (DAYS[1], DAYS[3]):
        land_day(settings, day)
        stage_day(settings, day)
    assert shares(settings, DAYS[3]) == []
    quarantined = staged(settings, "quarantine", DAYS[3])
    reason = (
        "usage driver requests incomplete for the period 2026-11-01..2026-11-04: 2026-11-01, 2026-11-03 "
        "not staged; backfill the period when its usage is in"
    )
    assert [(r["source"], r["source_row"], r["column_name"], r["reason"], r["raw_value"]) for r in quarantined] == [
        ("vendors", 1, "x_SpreadMethod", reason, "usage:requests"),
        ("vendors", 2, "x_SpreadMethod", reason, "usage:requests"),
    ]
    (log,) = [r for r in staged(settings, "ingest_log", DAYS[3]) if r["source"] == "vendors"]
    # rows in = rows staged + rows quarantined; the day's part of both lines is held back, none staged
    assert (log["rows_read"], log["rows_valid"], log["rows_quarantined"], log["balanced"]) == (2, 2, 0, True)
    assert log["rows_rejected_on_day"] == 2

    price_day(settings, DAYS[3])
    allocate(settings, DAYS[3])
    build_marts(settings, DAYS[3])
    recon = {r["source"]: r for r in staged(settings, "reconciliation", DAYS[3])}
    # the held-back shares make the day incomplete for the source, not a difference
    assert (recon["vendors"]["complete"], recon["vendors"]["rows_quarantined"], recon["vendors"]["difference"]) == (
        False,
        2,
        Decimal(0),
    )


def test_day_by_day_runs_then_a_backfill_equal_one_run_over_the_period(tmp_path: Path) -> None:
    nightly = load_settings(write_sources(tmp_path / "nightly"))
    reasons = []
    for day in DAYS:  # the nightly runs: each day sees only the usage staged so far
        land_day(nightly, day)
        stage_day(nightly, day)
        reasons += [r["reason"].split(": ")[1].split(" not")[0] for r in staged(nightly, "quarantine", day)]
    assert reasons == ["2026-11-02..2026-11-04"] * 2 + ["2026-11-03..2026-11-04"] * 2 + ["2026-11-04"] * 2
    assert [len(shares(nightly, day)) for day in DAYS] == [0, 0, 0, 2]
    for day in DAYS:  # the backfill once the period's usage is in
        stage_day(nightly, day)
    backfill = load_settings(write_sources(tmp_path / "backfill"))
    for day in DAYS:
        land_day(backfill, day)
    stage_days(backfill, DAYS)  # one run: usage of every day first, then the spread sources
    for day in DAYS:
        assert shares(nightly, day) == shares(backfill, day)
        assert not staged(nightly, "quarantine", day)
        files = [Lake(s.app.lake).partition_file("cost_lines", day, "vendors") for s in (nightly, backfill)]
        assert files[0].read_bytes() == files[1].read_bytes()
    assert sum(s[1] for day in DAYS for s in shares(backfill, day)) == Decimal("90.00")


def test_a_complete_period_without_any_usage_is_spread_evenly_and_says_so(tmp_path: Path) -> None:
    settings = load_settings(write_sources(tmp_path, "{method: usage, driver: tokens, match: {provider: weaviate}}"))
    for day in DAYS:
        land_day(settings, day)
    stage_days(settings, DAYS)
    assert [shares(settings, day)[0][1:] for day in DAYS] == [
        (Decimal("25.0000000000"), Decimal("25.0000000000"), "even:no_usage")
    ] * 4


def test_a_metric_driver_filtered_by_resource_spreads_by_that_metric(tmp_path: Path) -> None:
    config = write_sources(tmp_path, "{method: usage, driver: 'metric:read_units', match: {resource_id: idx-a}}")
    metrics = ["metric_time,metric,quantity,resource_id"]
    for i, day in enumerate(DAYS):
        metrics += [f"{day}T01:00:00Z,read_units,{i + 0.5},idx-a", f"{day}T02:00:00Z,read_units,99,idx-b"]
        metrics += [f"{day}T03:00:00Z,write_units,99,idx-a"]
    (tmp_path / "metrics.csv").write_text("\n".join(metrics) + "\n")
    config.write_text(config.read_text() + "  - {name: meters, kind: usage_metrics, path: metrics.csv}\n")
    settings = load_settings(config)
    for day in DAYS:
        land_day(settings, day)
    stage_days(settings, DAYS)
    # read units of idx-a: 0.5, 1.5, 2.5, 3.5 of 8
    assert [shares(settings, day)[0][1:] for day in DAYS] == [
        (Decimal("6.2500000000"), Decimal("6.2500000000"), "usage:metric:read_units"),
        (Decimal("18.7500000000"), Decimal("18.7500000000"), "usage:metric:read_units"),
        (Decimal("31.2500000000"), Decimal("31.2500000000"), "usage:metric:read_units"),
        (Decimal("43.7500000000"), Decimal("43.7500000000"), "usage:metric:read_units"),
    ]


def test_an_even_source_records_its_method(tmp_path: Path) -> None:
    settings = load_settings(write_sources(tmp_path, "{method: even}"))
    land_day(settings, DAYS[0])
    stage_day(settings, DAYS[0])
    assert shares(settings, DAYS[0]) == [
        ("Read units", Decimal("25.0000000000"), Decimal("25.0000000000"), "even"),
        ("Service credit", Decimal("-2.5000000000"), Decimal("-2.5000000000"), "even"),
    ]


def test_only_the_lines_spread_picks_are_spread_by_usage_the_others_evenly(tmp_path: Path) -> None:
    spread = "{method: usage, driver: requests, match: {provider: pinecone}, lines: {x_Provider: pinecone}}"
    invoices = INVOICES + "LabelForce,LF-1,2026-11-01,2026-11-04,Review plan,40.00,USD,\n"
    settings = load_settings(write_sources(tmp_path, spread, invoices))
    for day in DAYS:
        land_day(settings, day)
    stage_days(settings, DAYS)
    assert [[(s[0], s[1], s[3]) for s in shares(settings, day)] for day in (DAYS[0], DAYS[1])] == [
        [
            ("Read units", Decimal("16.6666666666"), "usage:requests"),
            ("Service credit", Decimal("-1.6666666666"), "usage:requests"),
            ("Review plan", Decimal("10.0000000000"), "even"),
        ],
        [
            ("Read units", Decimal("0E-10"), "usage:requests"),
            ("Service credit", Decimal("0E-10"), "usage:requests"),
            ("Review plan", Decimal("10.0000000000"), "even"),
        ],
    ]
