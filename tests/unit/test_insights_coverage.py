"""Shadow AI (spend nobody owns, by API key, account and vendor) and attribution coverage per dimension."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from tests.insights_fixtures import at, call, fact, mart, write_lake

DAY = date(2026, 11, 3)
NEXT = DAY + timedelta(days=1)


def line(day: date, line_id: str, amount: str, **columns) -> dict:
    return {
        "charge_date": day,
        "x_LineId": line_id,
        "BilledCost": Decimal(amount),
        "EffectiveCost": Decimal(amount),
        "BillingCurrency": "USD",
        "ChargeCategory": "Usage",
        **columns,
    }


def piece(day: date, line_id: str, amount: str, team: str | None, reason: str | None = None) -> dict:
    return {
        "charge_date": day,
        "line_id": line_id,
        "amount": Decimal(amount),
        "team": team,
        "allocation_rule": "unallocated" if team is None else "rule",
        "unallocated_reason": reason,
    }


def test_unowned_spend_is_ranked_per_api_key_account_and_vendor(tmp_path):
    no_usage = "llm_api_by_priced_usage: no usage for its join keys on this day"
    untagged = "tagged_or_owned: no value for its required dimensions"
    openai = {"x_Provider": "openai", "SubAccountId": "proj_prod"}
    lines = [
        line(DAY, "L1", "5", x_ApiKeyId="key_orphan", **openai),
        line(DAY, "L2", "10", x_ApiKeyId="key_search", **openai),
        line(DAY, "L3", "8", ServiceProviderName="AWS", SubAccountId="033333333333"),
        line(NEXT, "L4", "1", x_ApiKeyId="key_orphan", **openai),
    ]
    pieces = [
        piece(DAY, "L1", "5", None, no_usage),
        piece(DAY, "L2", "9", "search"),
        # a managed key's calls that nobody logged: a telemetry gap (true_up), not shadow AI
        piece(DAY, "L2", "1", None, "calls never logged (vendor usage report: 10 requests, 9 logged)"),
        piece(DAY, "L3", "6", "platform"),
        piece(DAY, "L3", "2", None, untagged),
        piece(NEXT, "L4", "1", None, no_usage),
    ]
    lake = write_lake(tmp_path, lines=lines, pieces=pieces, facts=[fact(NEXT, "1")])

    rows = {(r["kind"], r["key"]): r for r in mart(lake, "shadow_ai")}

    assert set(rows) == {
        ("api_key", "key_orphan"),
        ("account", "proj_prod"),
        ("account", "033333333333"),
        ("vendor", "openai"),
        ("vendor", "AWS"),
    }
    orphan = rows[("api_key", "key_orphan")]
    assert (orphan["unowned_usd"], orphan["total_usd"], orphan["unowned_share"]) == (
        Decimal("6"),
        Decimal("6"),
        Decimal("1"),
    )
    assert (orphan["first_seen"], orphan["last_seen"], orphan["days"], orphan["rank"]) == (DAY, NEXT, 2, 1)
    assert (orphan["vendors"], orphan["reasons"]) == ("openai", no_usage)
    assert [(rows[k]["unowned_usd"], rows[k]["unowned_share"], rows[k]["rank"]) for k in [
        ("account", "proj_prod"), ("account", "033333333333"), ("vendor", "openai"), ("vendor", "AWS")
    ]] == [
        (Decimal("6"), Decimal("0.375"), 1),
        (Decimal("2"), Decimal("0.25"), 2),
        (Decimal("6"), Decimal("0.375"), 1),
        (Decimal("2"), Decimal("0.25"), 2),
    ]  # fmt: skip


def test_coverage_is_the_share_of_cost_that_carries_each_dimension(tmp_path):
    facts = [
        fact(DAY, "10", team="search", feature="query_rewrite", customer="c1"),
        fact(DAY, "4", team="search"),
        fact(DAY, "6", unallocated_reason="no rule matched", allocation_rule="unallocated"),
    ]
    lake = write_lake(tmp_path, facts=facts)

    rows = {r["dimension"]: r for r in mart(lake, "attribution_coverage")}

    assert {d: (r["attributed_usd"], r["unattributed_usd"], r["coverage_share"]) for d, r in rows.items()} == {
        "team": (Decimal("14"), Decimal("6"), Decimal("0.7")),
        "feature": (Decimal("10"), Decimal("10"), Decimal("0.5")),
        "customer": (Decimal("10"), Decimal("10"), Decimal("0.5")),
        "agent": (Decimal("0"), Decimal("20"), Decimal("0")),
        "workflow": (Decimal("0"), Decimal("20"), Decimal("0")),
    }


def test_coverage_counts_the_calls_that_reported_no_usage_or_only_part_of_it(tmp_path):
    calls = [
        call(at(DAY)),
        call(at(DAY), list_cost=None, usage_flag="usage_missing", input_tokens=None, output_tokens=None),
        call(at(DAY), usage_flag="usage_partial", output_tokens=None),
        call(at(NEXT), list_cost=None, usage_flag="usage_missing", input_tokens=None, output_tokens=None),
    ]
    lake = write_lake(tmp_path, facts=[fact(DAY, "3", team="search"), fact(NEXT, "1")], calls=calls)

    rows = mart(lake, "attribution_coverage", where="dimension = 'team'")

    assert [(r["charge_date"], r["calls"], r["calls_usage_missing"], r["calls_usage_partial"]) for r in rows] == [
        (DAY, 3, 1, 1),
        (NEXT, 1, 1, 0),
    ]


def test_coverage_puts_the_billed_cost_of_models_with_unmeasured_calls_beside_their_count(tmp_path):
    gpt, mini = {"provider": "openai", "model": "gpt-4o"}, {"provider": "openai", "model": "gpt-4o-mini"}
    claude = {"provider": "anthropic", "model": "claude-sonnet-4"}
    facts = [
        fact(DAY, "2.50", team="search", **gpt),
        fact(DAY, "0.50", **gpt),
        fact(DAY, "5", team="search", **claude),
        fact(DAY, "2", team="chat", **mini),
        fact(NEXT, "1", team="chat", **mini),
    ]
    calls = [
        call(at(DAY), **gpt),
        call(at(DAY), list_cost=None, usage_flag="usage_missing", input_tokens=None, output_tokens=None, **gpt),
        call(at(DAY), usage_flag="usage_partial", output_tokens=None, **claude),
        call(at(DAY), **mini),
        # no bill covers gpt-4o the next day: the call is counted, its spend share is 0
        call(at(NEXT), list_cost=None, usage_flag="usage_missing", input_tokens=None, output_tokens=None, **gpt),
    ]
    lake = write_lake(tmp_path, facts=facts, calls=calls)

    rows = mart(lake, "attribution_coverage", where="dimension = 'team'")

    assert [
        (r["charge_date"], r["total_usd"], r["calls_usage_missing"], r["usage_missing_usd"], r["usage_missing_share"],
         r["calls_usage_partial"], r["usage_partial_usd"], r["usage_partial_share"])
        for r in rows
    ] == [
        (DAY, Decimal("10"), 1, Decimal("3"), Decimal("0.3"), 1, Decimal("5"), Decimal("0.5")),
        (NEXT, Decimal("1"), 1, Decimal("0"), Decimal("0"), 0, Decimal("0"), Decimal("0")),
    ]  # fmt: skip
