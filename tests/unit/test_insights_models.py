"""Model scorecard and routing savings: cost per successful call, latency, error/retry/cache rates; calls that fit a
cheaper tier re-priced at its dated price by the pricing layer."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from assets.marts.insights_config import InsightsConfig, ModelTier, RoutingRule
from assets.pricing import PriceOverrides
from tests.insights_fixtures import at, build_all, call, fact, mart, read_mart, write_lake

DAY = date(2026, 11, 3)
F = {"feature": "kb_answer", "team": "support"}


def test_scorecard_ranks_models_of_a_feature_by_billed_cost_per_successful_call(tmp_path):
    calls = [
        call(at(DAY, 9), latency_ms=100.0, cache_read_tokens=500, **F),
        call(at(DAY, 10), latency_ms=200.0, **F),
        call(at(DAY, 11), latency_ms=50.0, status="error", output_tokens=0, **F),
        call(at(DAY, 11, 1), latency_ms=300.0, attempt=2, **F),
        call(at(DAY, 9), model="gpt-4o-mini", latency_ms=80.0, **F),
        call(at(DAY, 10), model="gpt-4o-mini", latency_ms=90.0, **F),
        call(at(DAY, 10), model="o3", latency_ms=900.0, **F),
    ]
    facts = [
        fact(DAY, "0.9", provider="openai", model="gpt-4o", **F),
        fact(DAY, "0.1", provider="openai", model="gpt-4o-mini", **F),
        fact(DAY, "0.02", provider="openai", model="o3", **F),
    ]
    lake = write_lake(tmp_path, calls=calls, facts=facts)

    rows = {r["model"]: r for r in mart(lake, "model_scorecard", InsightsConfig(scorecard_min_calls=2))}

    big = rows["gpt-4o"]
    assert (big["calls"], big["successful_calls"], big["period_start"], big["period_end"]) == (
        4,
        3,
        date(2026, 10, 7),
        DAY,
    )
    assert big["billed_usd"] == Decimal("0.9") and big["usd_per_successful_call"] == Decimal("0.3")
    assert big["list_usd"] == Decimal("0.04")
    assert (big["p50_latency_ms"], big["p95_latency_ms"]) == (200.0, 290.0)
    assert (big["error_rate"], big["retry_rate"], big["cache_read_share"]) == (
        Decimal("0.25"),
        Decimal("0.25"),
        Decimal("0.125"),
    )
    assert (rows["gpt-4o-mini"]["usd_per_successful_call"], rows["gpt-4o-mini"]["rank_in_feature"]) == (
        Decimal("0.05"),
        1,
    )
    assert big["rank_in_feature"] == 2
    assert rows["o3"]["rank_in_feature"] is None  # one call: listed, not ranked


def test_calls_that_fit_a_cheaper_tier_are_repriced_at_its_dated_price(tmp_path):
    overrides = PriceOverrides.model_validate(
        {
            "prices": [
                {
                    "name": "cheap",
                    "provider": "openai",
                    "model": "cheap-model",
                    "input_mtok": 1,
                    "output_mtok": 2,
                    "to": "2026-11-04",
                },
                {
                    "name": "cheap-later",
                    "provider": "openai",
                    "model": "cheap-model",
                    "input_mtok": 3,
                    "output_mtok": 6,
                    "from": "2026-11-04",
                },
            ]
        }
    )
    rules = [
        RoutingRule(name="small_to_cheap", provider="openai", models=["gpt-4o"],
                    to=ModelTier(provider="openai", model="cheap-model"), max_input_tokens=2000, max_output_tokens=200),
        RoutingRule(name="medium_to_unknown", provider="openai", models=["gpt-4o"],
                    to=ModelTier(provider="openai", model="unknown-model"), max_input_tokens=10_000,
                    max_output_tokens=1000),
    ]  # fmt: skip
    calls = [
        call(at(DAY, 9), "0.0035", input_tokens=1000, output_tokens=100, **F),
        call(at(DAY, 10), "0.0175", input_tokens=5000, output_tokens=500, **F),
        call(at(DAY, 11), "0.051", input_tokens=20_000, output_tokens=100, **F),
        call(at(DAY, 12), "0.0003", model="gpt-4o-mini", input_tokens=1000, output_tokens=100, **F),
        call(at(date(2026, 11, 4), 9), "0.0035", input_tokens=1000, output_tokens=100, **F),
    ]
    lake = write_lake(tmp_path, calls=calls, facts=[fact(date(2026, 11, 4), "1")])

    rows = {
        (r["charge_date"], r["rule_name"]): r
        for r in mart(lake, "routing_savings", InsightsConfig(routing=rules), overrides)
    }

    small = rows[(DAY, "small_to_cheap")]
    assert (small["from_model"], small["to_model"], small["model_calls"], small["routable_calls"]) == (
        "gpt-4o",
        "cheap-model",
        3,
        1,
    )
    assert (small["list_usd"], small["routed_usd"], small["savings_usd"]) == (
        Decimal("0.0035"),
        Decimal("0.0012"),
        Decimal("0.0023"),
    )
    later = rows[(date(2026, 11, 4), "small_to_cheap")]
    assert (later["routed_usd"], later["savings_usd"]) == (Decimal("0.0036"), Decimal("-0.0001"))
    unknown = rows[(DAY, "medium_to_unknown")]
    assert (unknown["routable_calls"], unknown["unpriced_calls"], unknown["savings_usd"]) == (1, 1, Decimal(0))
    assert len(rows) == 3


def test_no_routing_rules_give_an_empty_table(tmp_path):
    lake = write_lake(tmp_path, calls=[call(at(DAY))], facts=[fact(DAY, "1")])
    assert mart(lake, "routing_savings") == []


def test_rows_of_a_coverage_source_are_not_calls_in_the_insights(tmp_path):
    calls = [
        call(at(DAY, 9), **F),
        call(at(DAY, 10), **F),
        call(at(DAY), operation="chat:bucket", request_count=900, input_tokens=10**7, x_Source="vendor_usage"),
    ]
    lake = write_lake(tmp_path, calls=calls, facts=[fact(DAY, "1", provider="openai", model="gpt-4o", **F)])
    build_all(lake, InsightsConfig(), PriceOverrides(), tables=["model_scorecard"], coverage_sources=("vendor_usage",))
    assert [(r["model"], r["calls"], r["list_usd"]) for r in read_mart(lake, "model_scorecard")] == [
        ("gpt-4o", 2, Decimal("0.02"))
    ]
