"""Vendor usage reports as coverage: calls the vendor served but nobody logged become their own visible piece of
the bill, and every piece of a list_cost rule carries the list price of the calls behind it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from assets.allocation.engine import allocate_day
from assets.config import AllocationConfig
from assets.sql import connect
from tests.allocation_fixtures import line, load_day

DAY = date(2026, 3, 2)
RULE = {
    "name": "llm",
    "priority": 10,
    "method": "usage",
    "match": {"x_Provider": "openai"},
    "driver": "list_cost",
    "join": {"x_Provider": "provider", "x_Model": "model", "x_ApiKeyId": "api_key_id"},
}
FALLBACK = {"name": "rest", "priority": 20, "method": "even", "match": {}, "targets": [{"team": "platform"}]}


def call(team: str | None, cost: str, requests: int = 1, source: str = "logs", **extra) -> dict:
    return {
        "provider": "openai",
        "model": "gpt-4o",
        "api_key_id": "key_a",
        "team": team,
        "list_cost": Decimal(cost),
        "input_tokens": 1000 * requests,
        "output_tokens": 100 * requests,
        "request_count": requests,
        "x_Source": source,
        **extra,
    }


def bucket(cost: str, requests: int, **extra) -> dict:
    """One daily bucket of the vendor's usage report (a coverage source)."""
    return call(None, cost, requests, "vendor_usage", operation="chat:bucket", **extra)


def bill(line_id: str, amount: str, key: str = "key_a") -> dict:
    return line(line_id, amount, x_Provider="openai", x_Model="gpt-4o", x_ApiKeyId=key)


def allocate(lines: list[dict], calls: list[dict], rules=(RULE,), coverage=("vendor_usage",)) -> list[dict]:
    con = connect()
    load_day(con, lines, calls)
    config = AllocationConfig.model_validate({"rules": list(rules)})
    query = allocate_day(con, config, DAY, "EffectiveCost", list(coverage))
    cursor = con.execute(f"select * from ({query})", {"charge_date": DAY})
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def split(rows: list[dict]) -> dict:
    return {(r["line_id"], r["team"], r["unallocated_reason"]): (r["amount"], r["list_price"]) for r in rows}


def test_calls_the_vendor_counted_beyond_the_logged_ones_are_a_visible_unallocated_piece():
    rows = allocate(
        [bill("L1", "100.00")],
        [call("search", "50.00", 40), call("support", "30.00", 40), bucket("100.00", 100)],
    )
    assert split(rows) == {
        ("L1", "search", None): (Decimal("50.00"), Decimal("50.00")),
        ("L1", "support", None): (Decimal("30.00"), Decimal("30.00")),
        ("L1", None, "calls never logged (vendor usage report: 100 requests, 80 logged)"): (
            Decimal("20.00"),
            Decimal("0"),
        ),
    }
    assert {r["allocation_rule"] for r in rows} == {"llm"}


def test_vendor_report_at_or_below_the_logged_calls_changes_nothing():
    calls = [call("search", "50.00", 40), call("support", "30.00", 40)]
    without = allocate([bill("L1", "100.00")], calls, coverage=())
    assert allocate([bill("L1", "100.00")], [*calls, bucket("79.99", 100)]) == without
    assert allocate([bill("L1", "100.00")], [*calls, bucket("80.00", 80)]) == without
    assert split(without) == {
        ("L1", "search", None): (Decimal("62.5"), Decimal("50.00")),
        ("L1", "support", None): (Decimal("37.5"), Decimal("30.00")),
    }


def test_without_a_coverage_source_the_report_is_an_ordinary_driver():
    rows = allocate([bill("L1", "100.00")], [call("search", "80.00", 80), bucket("20.00", 20)], coverage=())
    assert split(rows) == {
        ("L1", "search", None): (Decimal("80.00"), Decimal("80.00")),
        ("L1", None, None): (Decimal("20.00"), Decimal("20.00")),
    }


def test_coverage_of_other_keys_is_not_counted_and_never_splits_a_line_alone():
    rows = allocate(
        [bill("L1", "10.00"), bill("L2", "5.00", key="key_b")],
        [call("search", "8.00"), bucket("2.00", 3, api_key_id="key_b")],
        rules=(RULE, FALLBACK),
    )
    assert split(rows) == {
        ("L1", "search", None): (Decimal("10.00"), Decimal("8.00")),
        ("L2", "platform", None): (Decimal("5.00"), None),
    }


def test_lines_of_one_key_share_the_calls_list_price_once():
    """An input and an output line of the same model and key are split over the same calls: their pieces carry
    the calls' list price once between them, by the size of each line."""
    rows = allocate(
        [bill("in", "30.00"), bill("out", "60.00"), bill("credit", "-10.00")],
        [call("search", "25.00"), call("support", "25.00"), call("sales", "0.0000000001"), bucket("60.0000000001", 4)],
    )
    assert sum(r["amount"] for r in rows) == Decimal("80.00")
    assert sum(r["list_price"] for r in rows) == Decimal("50.0000000001")
    by_line = {}
    for r in rows:
        by_line.setdefault(r["line_id"], []).append(r)
    assert {k: sum(r["list_price"] for r in v) for k, v in by_line.items()} == {
        "in": Decimal("15.0000000000"),
        "out": Decimal("30.0000000001"),
        "credit": Decimal("5.0000000000"),
    }
    never = [r for r in rows if r["unallocated_reason"]]
    assert {(r["line_id"], r["amount"]) for r in never} == {
        ("in", Decimal("5.0000000000")),
        ("out", Decimal("10.0000000000")),
        ("credit", Decimal("-1.6666666667")),
    }
    assert all(r["amount"] * {"in": 1, "out": 1, "credit": -1}[r["line_id"]] >= 0 for r in rows)


def test_a_line_with_no_calls_is_no_telemetry_with_list_price_zero_and_other_rules_carry_none():
    rows = allocate([bill("L1", "7.00", key="key_z"), line("X", "3.00", x_Provider="aws")], [call("a", "1")])
    assert {(r["line_id"], r["allocation_rule"], r["list_price"]) for r in rows} == {
        ("L1", "unallocated", Decimal("0")),
        ("X", "unallocated", None),
    }


def test_the_never_logged_piece_has_no_retry_flag_and_sorts_apart_from_logged_calls_without_dimensions():
    """Equal weights, an odd unit: the tie goes to the logged piece, whatever the order of the inputs."""
    rows = allocate([bill("L1", "0.0000000003")], [bucket("2", 2), call(None, "1")])
    assert [(r["team"], r["is_retry"], r["unallocated_reason"] is not None, r["amount"]) for r in rows] == [
        (None, False, False, Decimal("0.0000000002")),
        (None, None, True, Decimal("0.0000000001")),
    ]
