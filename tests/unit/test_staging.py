"""Sources → raw → staging on small FOCUS files the tests write: day selection, monthly spreading, rejects."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from assets.config import load_settings
from assets.lake import Lake
from assets.raw import land_day, source_files
from assets.sql import connect
from assets.staging import stage_day

HEADER = (
    "BilledCost,EffectiveCost,BillingCurrency,ChargeCategory,ChargePeriodStart,ChargePeriodEnd,ServiceName,SubAccountId"
)


def focus_file(path: Path, *rows: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def settings_for(tmp_path: Path, source_path: str, extra: str = ""):
    (tmp_path / "allocation.yaml").write_text("rules: []\n")
    (tmp_path / "apportion.yaml").write_text(
        f"allocation: allocation.yaml\nprices: null\n{extra}"
        f"sources:\n  - {{name: bill, kind: focus, path: '{source_path}'}}\n"
    )
    return load_settings(tmp_path / "apportion.yaml")


def staged(settings, table: str, day: date) -> list[dict]:
    files = sorted(Lake(settings.app.lake).partition_dir(table, day).glob("*.parquet"))
    if not files:
        return []
    with connect() as con:
        cursor = con.execute("select * from read_parquet($f)", {"f": [str(f) for f in files]})
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def run(settings, day: date) -> None:
    land_day(settings, day)
    stage_day(settings, day)


def test_a_monthly_line_is_spread_over_its_days_exactly(tmp_path):
    focus_file(tmp_path / "bill.csv", "100.00,100.00,USD,Usage,2026-11-01T00:00:00Z,2026-12-01T00:00:00Z,Support,011")
    settings = settings_for(tmp_path, "bill.csv")
    shares = []
    for offset in range(30):
        day = date(2026, 11, 1) + timedelta(days=offset)
        run(settings, day)
        (line,) = staged(settings, "cost_lines", day)
        shares.append(line["EffectiveCost"])
    assert shares[0] == Decimal("3.3333333333")
    assert shares[2] == Decimal("3.3333333334")
    assert sum(shares) == Decimal("100.00")
    assert line["SubAccountId"] == "011"
    run(settings, date(2026, 12, 1))
    assert staged(settings, "cost_lines", date(2026, 12, 1)) == []


def test_rows_that_do_not_fit_are_quarantined_with_file_row_column_and_reason(tmp_path):
    focus_file(
        tmp_path / "bill.csv",
        "1.50,1.50,USD,Usage,2026-11-01T00:00:00Z,2026-11-02T00:00:00Z,S3,1",
        "abc,1.00,USD,Usage,2026-11-01T00:00:00Z,2026-11-02T00:00:00Z,S3,1",
        "2.00,2.00,EUR,Usage,2026-11-01T00:00:00Z,2026-11-02T00:00:00Z,S3,1",
        "2.00,2.00,USD,Usage,2026-11-01T00:00:00Z,2026-11-01T00:00:00Z,S3,1",
    )
    settings = settings_for(tmp_path, "bill.csv")
    run(settings, date(2026, 11, 1))
    assert [r["BilledCost"] for r in staged(settings, "cost_lines", date(2026, 11, 1))] == [Decimal("1.50")]
    rejects = {
        (r["source_row"], r["column_name"], r["reason"], r["raw_value"])
        for r in staged(settings, "quarantine", date(2026, 11, 1))
    }
    assert rejects == {
        (2, "BilledCost", "not a valid decimal(38,10)", "abc"),
        (3, "BillingCurrency", "no FX rate for EUR to USD dated at most 7 days before 2026-11-01", "EUR"),
        (4, "ChargePeriodEnd", "charge period does not end after it starts", None),
    }
    quarantine = staged(settings, "quarantine", date(2026, 11, 1))
    assert {r["source_file"].split("-", 1)[1] for r in quarantine} == {"bill.csv"}
    (log,) = staged(settings, "ingest_log", date(2026, 11, 1))
    assert (log["rows_read"], log["rows_valid"], log["rows_quarantined"], log["balanced"]) == (4, 2, 2, True)
    assert log["rows_rejected_on_day"] == 1


def test_date_template_selects_only_that_days_files(tmp_path):
    for day in ("2026-11-01", "2026-11-02"):
        focus_file(tmp_path / "exports" / day / "a.csv", f"1,1,USD,Usage,{day}T00:00:00Z,{day}T01:00:00Z,S3,1")
    settings = settings_for(tmp_path, "exports/{date}/*.csv")
    (source,) = settings.app.sources
    assert source_files(source, settings.root, date(2026, 11, 2)) == [tmp_path / "exports" / "2026-11-02" / "a.csv"]
    assert source_files(source, settings.root, date(2026, 11, 3)) == []


def test_landing_is_content_addressed_and_idempotent(tmp_path):
    focus_file(tmp_path / "bill.csv", "1,1,USD,Usage,2026-11-01T00:00:00Z,2026-11-02T00:00:00Z,S3,1")
    settings = settings_for(tmp_path, "bill.csv")
    land_day(settings, date(2026, 11, 1))
    land_day(settings, date(2026, 11, 1))
    raw = list(Lake(settings.app.lake).raw_dir("bill").iterdir())
    assert len(raw) == 1 and raw[0].name.endswith("-bill.csv")
    assert raw[0].read_bytes() == (tmp_path / "bill.csv").read_bytes()


def test_a_source_missing_for_the_day_stages_nothing_and_keeps_no_stale_rows(tmp_path):
    path = focus_file(tmp_path / "bill.csv", "1,1,USD,Usage,2026-11-01T00:00:00Z,2026-11-02T00:00:00Z,S3,1")
    settings = settings_for(tmp_path, "bill.csv")
    run(settings, date(2026, 11, 1))
    assert len(staged(settings, "cost_lines", date(2026, 11, 1))) == 1
    path.unlink()
    run(settings, date(2026, 11, 1))
    assert staged(settings, "cost_lines", date(2026, 11, 1)) == []


def test_foreign_currency_is_converted_at_the_newest_rate_of_the_week(tmp_path):
    (tmp_path / "fx.csv").write_text(
        "date,currency,rate\n2026-10-30,EUR,1.08\n2026-11-02,EUR,1.10\n2026-11-02,GBP,1.25\n"
    )
    focus_file(
        tmp_path / "bill.csv",
        "100.00,90.00,EUR,Usage,2026-11-01T00:00:00Z,2026-11-02T00:00:00Z,S3,1",
        "100.00,90.00,EUR,Usage,2026-11-02T00:00:00Z,2026-11-03T00:00:00Z,S3,1",
        "1.00,1.00,GBP,Usage,2026-11-01T00:00:00Z,2026-11-02T00:00:00Z,S3,1",
        "1.00,1.00,EUR,Usage,2026-11-10T00:00:00Z,2026-11-11T00:00:00Z,S3,1",
    )
    settings = settings_for(tmp_path, "bill.csv", "fx_rates: fx.csv\n")
    converted = {}
    for day in (date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 10)):
        run(settings, day)
        for line in staged(settings, "cost_lines", day):
            converted[(day, line["x_OriginalCurrency"])] = (
                line["BilledCost"],
                line["EffectiveCost"],
                line["BillingCurrency"],
                line["x_FxRate"],
            )
    assert converted == {
        (date(2026, 11, 1), "EUR"): (Decimal("108.00"), Decimal("97.20"), "USD", Decimal("1.08")),
        (date(2026, 11, 2), "EUR"): (Decimal("110.00"), Decimal("99.00"), "USD", Decimal("1.10")),
    }
    reasons = {r["reason"] for d in (date(2026, 11, 1), date(2026, 11, 10)) for r in staged(settings, "quarantine", d)}
    assert reasons == {
        "no FX rate for GBP to USD dated at most 7 days before 2026-11-01",
        "no FX rate for EUR to USD dated at most 7 days before 2026-11-10",
    }


def test_an_unreadable_file_is_quarantined_whole_and_the_others_go_on(tmp_path):
    focus_file(tmp_path / "bills" / "good.csv", "1.25,1.25,USD,Usage,2026-11-01T00:00:00Z,2026-11-02T00:00:00Z,S3,1")
    (tmp_path / "bills" / "broken.csv.gz").write_bytes(b"\x1f\x8b\x08\x00 this is not gzip")
    settings = settings_for(tmp_path, "bills/*")
    run(settings, date(2026, 11, 1))
    assert [r["BilledCost"] for r in staged(settings, "cost_lines", date(2026, 11, 1))] == [Decimal("1.25")]
    (reject,) = staged(settings, "quarantine", date(2026, 11, 1))
    assert reject["source_file"].endswith("-broken.csv.gz") and reject["source_row"] is None
    assert reject["reason"].startswith("unreadable file: ")
    logs = {r["source_file"].split("-", 1)[1]: r for r in staged(settings, "ingest_log", date(2026, 11, 1))}
    assert logs["broken.csv.gz"]["unreadable_reason"] == reject["reason"]
    assert logs["good.csv"]["rows_valid"] == 1 and logs["good.csv"]["balanced"]


def test_a_call_logged_twice_is_staged_once_and_the_repeat_quarantined(tmp_path):
    call = '{"event_time": "2026-11-01T10:00:00Z", "provider": "openai", "model": "gpt-4o", "request_id": "%s"}'
    (tmp_path / "a.jsonl").write_text("\n".join([call % "r1", call % "r2"]) + "\n")
    (tmp_path / "b.jsonl").write_text(call % "r1" + "\n")
    (tmp_path / "allocation.yaml").write_text("rules: []\n")
    (tmp_path / "apportion.yaml").write_text(
        "allocation: allocation.yaml\nprices: null\nsources:\n  - {name: logs, kind: usage_jsonl, path: '*.jsonl'}\n"
    )
    settings = load_settings(tmp_path / "apportion.yaml")
    run(settings, date(2026, 11, 1))
    calls = staged(settings, "usage_events", date(2026, 11, 1))
    assert sorted((c["request_id"], c["x_SourceFile"].split("-", 1)[1]) for c in calls) == [
        ("r1", "a.jsonl"),
        ("r2", "a.jsonl"),
    ]
    (repeat,) = staged(settings, "quarantine", date(2026, 11, 1))
    assert (repeat["source_file"].split("-", 1)[1], repeat["source_row"], repeat["column_name"]) == (
        "b.jsonl",
        1,
        "request_id",
    )
    assert repeat["reason"].startswith("duplicate request_id, first seen in ") and repeat["reason"].endswith(
        "a.jsonl row 1"
    )
