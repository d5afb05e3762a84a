"""The allocation engine on small days built in a real DuckDB: exact pieces, fall-through, reasons."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from assets.allocation.engine import allocate_day
from assets.config import AllocationConfig
from assets.sql import connect
from tests.allocation_fixtures import line, load_day

DAY = date(2026, 3, 2)


def allocate(config: dict, lines: list[dict], calls: list[dict] | None = None, metrics=None, day=DAY) -> list[dict]:
    con = connect()
    load_day(con, lines, calls, metrics)
    query = allocate_day(con, AllocationConfig.model_validate(config), day, "EffectiveCost")
    cursor = con.execute(f"select * from ({query})", {"charge_date": day})
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def pieces(rows: list[dict], *keys: str) -> dict:
    return {tuple(r[k] for k in keys): r["amount"] for r in rows}


def call(team: str, cost: str, model: str = "gpt-4o", provider: str = "openai", **extra) -> dict:
    return {
        "provider": provider,
        "model": model,
        "team": team,
        "list_cost": Decimal(cost),
        "input_tokens": 100,
        "output_tokens": 10,
        "request_count": 1,
        "x_Source": "usage",
        **extra,
    }


USAGE_RULE = {
    "name": "llm",
    "priority": 10,
    "method": "usage",
    "match": {"x_Provider": "openai"},
    "driver": "list_cost",
    "join": {"x_Provider": "provider", "x_Model": "model"},
}


def test_usage_rule_splits_vendor_cost_by_priced_usage_to_the_cent():
    rows = allocate(
        {"rules": [USAGE_RULE]},
        [line("L1", "100.00", x_Provider="openai", x_Model="gpt-4o")],
        [call("search", "1.00"), call("support", "2.00"), call("support", "0.50", feature="triage")],
    )
    assert pieces(rows, "team", "feature") == {
        ("search", None): Decimal("28.5714285714"),
        ("support", None): Decimal("57.1428571429"),
        ("support", "triage"): Decimal("14.2857142857"),
    }
    assert sum(r["amount"] for r in rows) == Decimal("100.00")
    assert {r["allocation_rule"] for r in rows} == {"llm"}


def test_usage_rule_only_uses_calls_of_the_same_join_keys():
    rows = allocate(
        {"rules": [USAGE_RULE]},
        [line("L1", "10", x_Provider="openai", x_Model="gpt-4o-mini")],
        [call("search", "1.00", model="gpt-4o"), call("sales", "3.00", model="gpt-4o-mini")],
    )
    assert pieces(rows, "team") == {("sales",): Decimal("10")}


def test_line_without_driver_falls_through_to_the_next_rule():
    config = {
        "rules": [
            USAGE_RULE,
            {
                "name": "rest",
                "priority": 20,
                "method": "even",
                "match": {},
                "targets": [{"team": "a"}, {"team": "b"}],
            },
        ]
    }
    rows = allocate(config, [line("L1", "1.00", x_Provider="openai", x_Model="o3")], [call("x", "1", model="gpt-4o")])
    assert pieces(rows, "allocation_rule", "team") == {
        ("rest", "a"): Decimal("0.5"),
        ("rest", "b"): Decimal("0.5"),
    }


def test_unallocated_line_stays_whole_with_the_reason_of_its_first_matching_rule():
    rows = allocate(
        {"rules": [USAGE_RULE]},
        [line("L1", "7.25", x_Provider="openai", x_Model="o3"), line("L2", "1.10", ServiceName="S3")],
    )
    by_line = {r["line_id"]: r for r in rows}
    assert by_line["L1"]["allocation_rule"] == "unallocated"
    assert by_line["L1"]["amount"] == Decimal("7.25")
    assert by_line["L1"]["unallocated_reason"] == "llm: no usage for its join keys on this day"
    assert by_line["L2"]["unallocated_reason"] == "no rule matched"


def test_even_split_places_the_odd_unit_deterministically():
    config = {
        "rules": [
            {
                "name": "even",
                "priority": 1,
                "method": "even",
                "match": {},
                "targets": [{"team": "a"}, {"team": "b"}, {"team": "c"}],
            }
        ]
    }
    rows = allocate(config, [line("L1", "0.10")])
    assert pieces(rows, "team") == {
        ("a",): Decimal("0.0333333334"),
        ("b",): Decimal("0.0333333333"),
        ("c",): Decimal("0.0333333333"),
    }


def test_credit_is_split_negative_and_proportionally():
    config = {
        "rules": [
            {
                "name": "fixed",
                "priority": 1,
                "method": "fixed",
                "match": {},
                "targets": [{"team": "a", "weight": 0.7}, {"team": "b", "weight": 0.3}],
            }
        ]
    }
    rows = allocate(config, [line("C1", "-10.00", ChargeCategory="Credit")])
    assert pieces(rows, "team") == {("a",): Decimal("-7.00"), ("b",): Decimal("-3.00")}


def test_tags_rule_reads_tags_then_owner_file(tmp_path):
    owners = tmp_path / "accounts.csv"
    owners.write_text("key,team,feature\n011111111111,platform,infra\n")
    config = {
        "owners": [{"name": "accounts", "file": str(owners), "key": "SubAccountId"}],
        "rules": [
            {
                "name": "tags",
                "priority": 1,
                "method": "tags",
                "match": {},
                "dimensions": {"team": ["tag:team", "owner:accounts"], "feature": ["tag:feature"]},
            }
        ],
    }
    rows = allocate(
        config,
        [
            line("T", "5", Tags={"team": "search", "feature": "rerank"}, SubAccountId="011111111111"),
            line("O", "3", SubAccountId="011111111111"),
            line("N", "2", SubAccountId="099999999999"),
        ],
    )
    by_line = {r["line_id"]: (r["team"], r["feature"], r["allocation_rule"]) for r in rows}
    assert by_line == {
        "T": ("search", "rerank", "tags"),
        "O": ("platform", None, "tags"),
        "N": (None, None, "unallocated"),
    }


def test_cost_rule_splits_by_what_its_basis_rules_allocated():
    config = {
        "rules": [
            USAGE_RULE,
            {
                "name": "obs",
                "priority": 20,
                "method": "cost",
                "match": {"ServiceName": "Datadog"},
                "basis": ["llm"],
            },
        ]
    }
    rows = allocate(
        config,
        [line("L1", "30", x_Provider="openai", x_Model="gpt-4o"), line("D", "6", ServiceName="Datadog")],
        [call("search", "1"), call("support", "2")],
    )
    assert pieces([r for r in rows if r["line_id"] == "D"], "team") == {
        ("search",): Decimal("2"),
        ("support",): Decimal("4"),
    }


def test_cost_rule_without_basis_spend_is_unallocated_with_reason():
    config = {
        "rules": [
            USAGE_RULE,
            {
                "name": "obs",
                "priority": 20,
                "method": "cost",
                "match": {"ServiceName": "Datadog"},
                "basis": ["llm"],
            },
        ]
    }
    rows = allocate(config, [line("D", "6", ServiceName="Datadog")])
    assert rows[0]["unallocated_reason"] == "obs: its basis rules allocated nothing on this day"


def test_rule_applies_only_within_its_effective_dates():
    config = {
        "rules": [
            {
                "name": "new",
                "priority": 1,
                "method": "even",
                "match": {},
                "targets": [{"team": "new"}],
                "effective_from": "2026-03-03",
            },
            {
                "name": "old",
                "priority": 2,
                "method": "even",
                "match": {},
                "targets": [{"team": "old"}],
                "effective_to": "2026-03-03",
            },
        ]
    }
    assert pieces(allocate(config, [line("L", "1")], day=date(2026, 3, 2)), "team") == {("old",): Decimal("1")}
    assert pieces(allocate(config, [line("L", "1")], day=date(2026, 3, 3)), "team") == {("new",): Decimal("1")}


def test_metric_driver_splits_by_usage_metric_quantity():
    config = {
        "rules": [
            {
                "name": "vec",
                "priority": 1,
                "method": "usage",
                "match": {},
                "driver": "metric:vector_queries",
                "join": {"x_Provider": "provider"},
            }
        ]
    }
    metrics = [
        {"metric": "vector_queries", "provider": "pinecone", "team": "search", "quantity": Decimal(3)},
        {"metric": "vector_queries", "provider": "pinecone", "team": "support", "quantity": Decimal(1)},
        {"metric": "gpu_seconds", "provider": "pinecone", "team": "sales", "quantity": Decimal(100)},
    ]
    rows = allocate(config, [line("V", "8", x_Provider="pinecone")], metrics=metrics)
    assert pieces(rows, "team") == {("search",): Decimal("6"), ("support",): Decimal("2")}


def test_conditions_test_tags_patterns_and_absence():
    config = {
        "rules": [
            {
                "name": "gpu",
                "priority": 1,
                "method": "even",
                "match": {"ResourceId": {"like": "gpu-%"}, "tag:env": {"not_in": ["dev"]}},
                "targets": [{"team": "ml"}],
            },
            {
                "name": "untagged",
                "priority": 2,
                "method": "even",
                "match": {"tag:team": False},
                "targets": [{"team": "x"}],
            },
        ]
    }
    rows = allocate(
        config,
        [
            line("A", "1", ResourceId="GPU-cluster", Tags={"env": "prod"}),
            line("B", "1", ResourceId="gpu-cluster", Tags={"env": "dev"}),
            line("C", "1", ResourceId="vm-1", Tags={"team": "y"}),
        ],
    )
    assert {r["line_id"]: r["allocation_rule"] for r in rows} == {
        "A": "gpu",
        "B": "untagged",
        "C": "unallocated",
    }


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (
            [
                {"name": "a", "priority": 1, "method": "cost", "match": {}, "basis": ["b"]},
                {"name": "b", "priority": 2, "method": "cost", "match": {}, "basis": ["a"]},
            ],
            "cycle: a -> b -> a",
        ),
        (
            [
                {"name": "a", "priority": 1, "method": "even", "match": {}, "targets": [{"team": "x"}]},
                {"name": "b", "priority": 2, "method": "cost", "match": {}, "basis": ["c"]},
                {"name": "c", "priority": 3, "method": "even", "match": {}, "targets": [{"team": "x"}]},
            ],
            "basis rule c must have a smaller priority",
        ),
        (
            [
                {
                    "name": "a",
                    "priority": 1,
                    "method": "usage",
                    "match": {},
                    "driver": "tokens",
                    "join": {"Colour": "provider"},
                }
            ],
            "unknown attribute 'Colour'",
        ),
        (
            [
                {
                    "name": "a",
                    "priority": 1,
                    "method": "usage",
                    "match": {},
                    "driver": "vibes",
                    "join": {"x_Provider": "provider"},
                }
            ],
            "unknown driver 'vibes'",
        ),
    ],
)
def test_invalid_rules_are_rejected_with_the_reason(rules, message):
    with pytest.raises(ValueError, match=message):
        AllocationConfig.model_validate({"rules": rules})
