"""fact_cost and true_up over one allocated day: the list price and true-up columns of fact_cost add up to the
true_up mart per provider, model and day, and the calls never logged are their own part of the residual."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from assets.allocation.engine import allocate_day
from assets.config import AllocationConfig
from assets.sql import connect, load_sql, run_sql
from tests.allocation_fixtures import line, load_day
from tests.unit.test_allocation_coverage import RULE, bill, bucket, call

DAY = date(2026, 3, 2)
BY_MODEL = {
    **RULE,
    "name": "by_model",
    "priority": 15,
    "match": {"x_Provider": "openai", "x_ApiKeyId": {"exists": False}},
    "join": {"x_Provider": "provider", "x_Model": "model"},
}


def marts(lines: list[dict], calls: list[dict]) -> tuple[list[dict], list[dict]]:
    con = connect()
    load_day(con, lines, calls)
    config = AllocationConfig.model_validate({"rules": [RULE, BY_MODEL]})
    query = allocate_day(con, config, DAY, "EffectiveCost", ["vendor_usage"])
    run_sql(con, f"create temp table allocated_lines_day as {query}", {"charge_date": DAY})
    out = []
    for model, params in (("fact_cost", {"charge_date": DAY, "coverage_sources": ["vendor_usage"]}), ("true_up", {})):
        cursor = con.execute(load_sql(f"marts/{model}"), params)
        names = [d[0] for d in cursor.description]
        out.append([dict(zip(names, row, strict=True)) for row in cursor.fetchall()])
    return out[0], out[1]


def test_fact_cost_true_up_columns_sum_to_the_true_up_mart_per_provider_model_and_day():
    lines = [
        bill("in", "30.00"),
        bill("out", "70.00"),
        bill("orphan", "4.00", key="key_orphan"),
        line("nokey", "12.00", x_Provider="openai", x_Model="gpt-4o-mini"),
        line("ec2", "9.00", x_Provider="aws"),
    ]
    calls = [
        call("search", "40.00", 40),
        call("support", "40.00", 40, attempt=2),
        call("growth", "5.00", 5, model="gpt-4o-mini", api_key_id=None),
        bucket("100.00", 100),
        bucket("3.00", 3, model="gpt-4o-mini", api_key_id="key_m"),
    ]
    fact, true_up = marts(lines, calls)

    assert {(r["api_key_id"], r["model"]): r for r in true_up}.keys() == {
        ("key_a", "gpt-4o"),
        ("key_orphan", "gpt-4o"),
        (None, "gpt-4o-mini"),
    }
    key_a = next(r for r in true_up if r["api_key_id"] == "key_a")
    assert (key_a["billed_usd"], key_a["list_priced_usd"], key_a["residual_usd"]) == (
        Decimal("100.00"),
        Decimal("80.00"),
        Decimal("20.00"),
    )
    assert (key_a["unlogged_usd"], key_a["price_residual_usd"], key_a["lines"]) == (Decimal("20"), Decimal(0), 2)
    orphan = next(r for r in true_up if r["api_key_id"] == "key_orphan")
    assert (orphan["status"], orphan["list_priced_usd"], orphan["residual_usd"]) == ("no telemetry", 0, Decimal(4))
    mini = next(r for r in true_up if r["model"] == "gpt-4o-mini")
    assert (mini["billed_usd"], mini["list_priced_usd"], mini["unlogged_usd"]) == (Decimal(12), Decimal(5), Decimal(0))

    residual: dict[tuple, Decimal] = {}
    for r in true_up:
        key = (r["provider"], r["model"], r["charge_date"])
        residual[key] = residual.get(key, Decimal(0)) + r["residual_usd"]
    from_fact: dict[tuple, Decimal] = {}
    for r in fact:
        if r["true_up_usd"] or r["list_price_usd"]:
            key = (r["provider"], r["model"], r["charge_date"])
            from_fact[key] = from_fact.get(key, Decimal(0)) + r["true_up_usd"]
    assert from_fact == residual
    assert sum(r["list_price_usd"] for r in fact) == sum(r["list_priced_usd"] for r in true_up) == Decimal(85)
    assert sum(r["amount_usd"] for r in fact) == Decimal("125.00")

    never = [r for r in fact if r["unallocated_reason"] and r["allocation_rule"] == "llm"]
    assert [(r["team"], r["amount_usd"], r["list_price_usd"], r["true_up_usd"]) for r in never] == [
        ("unallocated", Decimal("20.00"), Decimal(0), Decimal("20.00"))
    ]
    assert never[0]["unallocated_reason"] == "calls never logged (vendor usage report: 100 requests, 80 logged)"
    ec2 = next(r for r in fact if r["provider"] == "aws")
    assert (ec2["amount_usd"], ec2["list_price_usd"], ec2["true_up_usd"]) == (Decimal(9), Decimal(0), Decimal(0))


def test_coverage_rows_are_not_telemetry_in_fact_cost():
    fact, _ = marts([bill("L1", "10.00")], [call("search", "8.00", 8), bucket("10.00", 10)])
    telemetry = [r for r in fact if r["allocation_rule"] == "telemetry"]
    assert [(r["source"], r["team"], r["requests"], r["input_tokens"]) for r in telemetry] == [
        ("logs", "search", 8, 8000)
    ]
