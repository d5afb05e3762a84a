"""Each billing delivery is parsed once (`assets.staging`): staging a range, a nightly re-run and a backfill write
the same bytes as staging parsed every file for every day did, and an unchanged delivery is not read again."""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from assets import staging
from assets.config import load_settings
from assets.lake import Lake
from assets.raw import land_day
from assets.staging import STAGING_TABLES, stage_days
from tests.unit.test_staging import staged

DAYS = [date(2026, 11, 1) + timedelta(days=i) for i in range(4)]
HEADER = (
    "BilledCost,EffectiveCost,BillingCurrency,ChargeCategory,ChargePeriodStart,ChargePeriodEnd,ServiceName,SubAccountId"
)
BILL_A = [
    "300.00,290.00,USD,Usage,2026-11-01T00:00:00Z,2026-12-01T00:00:00Z,Support,011",
    "7.77,7.00,EUR,Usage,2026-11-02T00:00:00Z,2026-11-03T00:00:00Z,S3,1",
    "abc,1.00,USD,Usage,2026-11-01T00:00:00Z,2026-11-02T00:00:00Z,S3,1",
    "2.00,2.00,GBP,Usage,2026-11-03T00:00:00Z,2026-11-04T00:00:00Z,S3,1",
    "1.00,1.00,USD,Usage,,2026-11-04T00:00:00Z,S3,1",
    "2.00,2.00,USD,Usage,2026-11-02T00:00:00Z,2026-11-02T00:00:00Z,S3,1",
    "10.00,9.99,USD,Usage,2026-11-02T00:00:00Z,2026-11-05T00:00:00Z,EC2,2",
    *[f"1.10,1.05,USD,Usage,{d}T00:00:00Z,{d + timedelta(days=1)}T00:00:00Z,EC2,{i}" for i, d in enumerate(DAYS)],
]
BILL_B = [
    "-5.00,-5.00,USD,Credit,2026-11-01T00:00:00Z,2026-11-08T00:00:00Z,EC2,2",
    "0.3333333333,0.3333333333,EUR,Usage,2026-11-04T00:00:00Z,2026-11-05T00:00:00Z,S3,3",
]
INVOICES = (
    "vendor,invoice_id,period_start,period_end,description,amount,currency,provider\n"
    "Pinecone,INV-1,2026-11-01,2026-11-04,Read units,100.00,USD,pinecone\n"
    "Pinecone,INV-1,2026-11-01,2026-11-04,Service credit,-10.00,USD,pinecone\n"
)


def write_sources(root: Path) -> Path:
    """A month-long FOCUS bill in two files (one gzipped), invoices spread by the requests of a usage log, and
    that log: all read without `{date}`, so every day reads the same delivery."""
    (root / "bills").mkdir(parents=True)
    (root / "bills" / "a.csv").write_text("\n".join([HEADER, *BILL_A]) + "\n")
    (root / "bills" / "b.csv.gz").write_bytes(gzip.compress(("\n".join([HEADER, *BILL_B]) + "\n").encode(), mtime=0))
    (root / "invoices.csv").write_text(INVOICES)
    calls = [
        {"event_time": f"{day}T12:00:00Z", "provider": "pinecone", "request_id": f"p{day}-{i}"}
        for n, day in enumerate(DAYS)
        for i in range(n + 1)
    ]
    calls.append({"event_time": f"{DAYS[1]}T13:00:00Z", "provider": "pinecone", "request_id": f"p{DAYS[1]}-0"})
    (root / "calls.jsonl").write_text("".join(json.dumps(c) + "\n" for c in calls))
    (root / "fx.csv").write_text("date,currency,rate\n2026-10-30,EUR,1.08\n2026-11-03,EUR,1.10\n")
    (root / "allocation.yaml").write_text("rules: []\n")
    (root / "apportion.yaml").write_text(
        "allocation: allocation.yaml\nprices: null\nfx_rates: fx.csv\nsources:\n"
        "  - {name: bill, kind: focus, path: 'bills/*'}\n"
        "  - {name: vendors, kind: invoice_lines, path: invoices.csv,"
        " spread: {method: usage, driver: requests, match: {provider: pinecone}}}\n"
        "  - {name: app, kind: usage_jsonl, path: calls.jsonl}\n"
    )
    return root / "apportion.yaml"


def partition_digests(lake: Lake) -> dict[str, str]:
    return {
        f"{table}/{day}/{path.name}": hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        for table in STAGING_TABLES
        for day in DAYS
        for path in sorted(lake.partition_dir(table, day).glob("*.parquet"))
    }


def staged_digests(root: Path) -> dict[str, str]:
    settings = load_settings(write_sources(root))
    for day in DAYS:
        land_day(settings, day)
    stage_days(settings, DAYS)
    return partition_digests(Lake(settings.app.lake))


def test_staging_a_range_writes_the_same_bytes_as_parsing_every_day(tmp_path: Path, monkeypatch) -> None:
    """The reference parses every file again for every day, as staging did before deliveries were shared: each
    day's delivery gets a key of its own. (Before the change, these digests were also checked against ones captured
    from the old code.)"""
    shared = staged_digests(tmp_path / "shared")
    day_delivery = staging.day_delivery

    def per_day(lake: Lake, source, day: date) -> staging.Delivery:
        delivery = day_delivery(lake, source, day)
        return staging.Delivery(delivery.files, f"{delivery.key}-{day}")

    monkeypatch.setattr(staging, "day_delivery", per_day)
    kinds = parses(monkeypatch)
    assert staged_digests(tmp_path / "per_day") == shared
    assert len(shared) == 36
    assert kinds.count("focus") == len(DAYS)


def parses(monkeypatch) -> list[str]:
    """The kind of every delivery staging parses from here on (instead of loading it from its cache)."""
    kinds: list[str] = []
    parse = staging.read_files

    def counted(con, kind, files, options) -> None:
        kinds.append(kind.name)
        parse(con, kind, files, options)

    monkeypatch.setattr(staging, "read_files", counted)
    return kinds


def test_a_delivery_is_parsed_once_for_its_days_and_not_again_by_the_next_night(tmp_path: Path, monkeypatch) -> None:
    settings = load_settings(write_sources(tmp_path))
    lake = Lake(settings.app.lake)
    parsed = parses(monkeypatch)
    for day in DAYS:
        land_day(settings, day)
    assert stage_days(settings, DAYS).unbalanced_files == []
    assert parsed == ["focus", "usage_jsonl", "invoice_lines"]
    # the next night re-runs the last days (lookback) and a backfill re-runs them all: billing deliveries are
    # loaded from their cache (the usage log, not a billing delivery, is parsed once per run)
    parsed.clear()
    for day in DAYS[2:]:
        land_day(settings, day)
    stage_days(settings, DAYS[2:])
    stage_days(settings, DAYS)
    assert parsed == ["usage_jsonl", "usage_jsonl"]
    assert partition_digests(lake) == staged_digests(tmp_path / "fresh")
    assert [len(list(lake.deliveries_dir(s).glob("*.files.parquet"))) for s in ("bill", "vendors", "app")] == [1, 1, 0]


def test_a_redelivered_bill_is_parsed_again_and_replaces_the_old_delivery(tmp_path: Path, monkeypatch) -> None:
    settings = load_settings(write_sources(tmp_path))
    lake = Lake(settings.app.lake)
    for day in DAYS[:2]:
        land_day(settings, day)
    stage_days(settings, DAYS[:2])
    (old,) = lake.deliveries_dir("bill").glob("*.files.parquet")
    corrected = [line.replace("1.10,1.05", "1.20,1.15") for line in BILL_A]
    (tmp_path / "bills" / "a.csv").write_text("\n".join([HEADER, *corrected]) + "\n")
    parsed = parses(monkeypatch)
    for day in DAYS[:2]:
        land_day(settings, day)
    stage_days(settings, DAYS[:2])
    assert parsed == ["focus", "usage_jsonl"]  # the invoices did not change
    (new,) = lake.deliveries_dir("bill").glob("*.files.parquet")
    assert new != old and not old.with_name(old.name.replace(".files", "")).exists()
    daily = [
        r["BilledCost"]
        for r in staged(settings, "cost_lines", DAYS[1])
        if r["ServiceName"] == "EC2" and r["SubAccountId"] == "1"
    ]
    assert daily == [Decimal("1.20")]


def test_a_row_the_reader_drops_unbalances_its_file_and_is_named(tmp_path: Path) -> None:
    # DuckDB's CSV sniffer takes `#` for a comment marker and skips the line: the record is never parsed
    rows = [BILL_A[6], "#10.00,9.99,USD,Usage,2026-11-01T00:00:00Z,2026-11-02T00:00:00Z,EC2,2", BILL_A[7]]
    (tmp_path / "bills").mkdir()
    (tmp_path / "bills" / "dropped.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    (tmp_path / "bills" / "whole.csv").write_text("\n".join([HEADER, BILL_A[7]]))  # no final newline
    (tmp_path / "allocation.yaml").write_text("rules: []\n")
    (tmp_path / "apportion.yaml").write_text(
        "allocation: allocation.yaml\nprices: null\nsources:\n  - {name: bill, kind: focus, path: 'bills/*'}\n"
    )
    settings = load_settings(tmp_path / "apportion.yaml")
    land_day(settings, DAYS[0])
    result = stage_days(settings, DAYS[0:1])
    assert [name.split("-", 1)[1] for name in result.unbalanced_files] == ["dropped.csv"]
    logs = {r["source_file"].split("-", 1)[1]: r for r in staged(settings, "ingest_log", DAYS[0])}
    dropped, whole = logs["dropped.csv"], logs["whole.csv"]
    assert (dropped["rows_read"], dropped["rows_valid"], dropped["rows_quarantined"], dropped["balanced"]) == (
        3,
        2,
        0,
        False,
    )
    assert (whole["rows_read"], whole["rows_valid"], whole["balanced"]) == (1, 1, True)
