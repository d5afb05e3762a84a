"""Incremental insights: each day's aggregates are written once, the marts over them equal the marts computed the
old way from every call of the history, and near-duplicate prompts are found by banding (LSH) across days."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal

from assets.marts.insights import build_insight_day, build_insights, daily_file, insight_file
from assets.marts.insights_config import Budget, InsightsConfig, ModelTier, RoutingRule
from assets.pricing import PriceOverrides
from tests.insights_before import build_before, differences
from tests.insights_fixtures import at, build_all, call, days, fact, lake_days, read_mart, write_lake

FIRST = date(2026, 10, 1)
DAYS = days(FIRST, 8)
SPIKE = 6
"""The day whose cost and prompt sizes jump: after six days, the anomalies have a trailing baseline."""
SIMHASH = 0x0123_4567_89AB_CDEF
TEAMS = ("search", "support")
FEATURES = ("kb_answer", "triage", "summary")
MODELS = (("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("self-hosted", "llama-3.1-70b"))


def history(n_days: int = len(DAYS), seed: int = 7) -> tuple[list[dict], list[dict]]:
    """`n_days` days of calls (retries, failures, repeated and near-duplicate prompts, latencies) and their costs, with
    a growing trend and a spike, so that every mart has rows and the anomalies have baselines."""
    rng = random.Random(seed)
    calls, facts = [], []
    for n, day in enumerate(DAYS[:n_days]):
        for i in range(16):
            team, feature = rng.choice(TEAMS), rng.choice(FEATURES)
            provider, model = rng.choice(MODELS)
            prompt = rng.randrange(12)
            dims = {"team": team, "feature": feature, "agent": f"agent_{i % 3}", "workflow": f"wf_{i % 2}"}
            failed = rng.random() < 0.15
            common = {
                "provider": provider,
                "model": model,
                "prompt_hash": f"p{prompt}" if prompt < 10 else None,
                "prompt_simhash": (SIMHASH ^ (1 << prompt)) if prompt < 8 else None,
                "input_tokens": rng.randrange(100, 3000) * (3 if n == SPIKE else 1),
                "output_tokens": rng.randrange(10, 500),
                "latency_ms": float(rng.randrange(200, 900)),
                "trace_id": f"t{n}-{i // 2}",
                **dims,
            }
            hour = rng.randrange(0, 23)
            calls.append(
                call(
                    at(day, hour, rng.randrange(60)),
                    str(Decimal(rng.randrange(1, 900)) / 10000),
                    status="error" if failed else "ok",
                    **common,
                )
            )
            if failed:  # retried a minute later, within the same hour
                calls.append(call(at(day, hour, 59, 30), "0.0100", attempt=2, **common))
            amount = Decimal(rng.randrange(100, 5000) * (4 if n == SPIKE else 1) + 10 * n) / 100
            facts.append(
                fact(
                    day,
                    str(amount),
                    provider=provider,
                    model=model,
                    customer=f"c{i % 4}",
                    is_retry=failed,
                    requests=1 + failed,
                    input_tokens=common["input_tokens"],
                    output_tokens=common["output_tokens"],
                    **dims,
                )
            )
    return calls, facts


def config() -> tuple[InsightsConfig, PriceOverrides]:
    routing = RoutingRule(
        name="mini",
        provider="openai",
        models=["gpt-4o"],
        to=ModelTier(provider="openai", model="gpt-4o-mini"),
        max_input_tokens=2000,
        max_output_tokens=400,
    )
    return (
        InsightsConfig(
            budgets=[Budget(name="search", team="search", monthly_usd=Decimal("400"))],
            routing=[routing],
            scorecard_min_calls=5,
        ),
        PriceOverrides(),
    )


def test_eight_days_of_marts_over_daily_aggregates_equal_the_marts_over_every_call(tmp_path):
    calls, facts = history()
    lake = write_lake(tmp_path / "lake", calls=calls, facts=facts)
    insights, overrides = config()

    built = build_all(lake, insights, overrides)
    before = build_before(lake, insights, overrides, tmp_path / "before")

    assert built.as_of == DAYS[-1]
    empty = {t for t, n in built.rows.items() if n == 0}
    assert empty == {"business_roi", "shadow_ai"}  # no business metrics, no allocated lines in this lake
    assert differences(lake, before) == {}
    anomalies = read_mart(lake, "cost_anomalies", f"is_anomaly and charge_date = '{DAYS[SPIKE]}'")
    assert {(r["dimension"], r["value"]) for r in anomalies} >= {("team", "search"), ("team", "support")}


def test_the_marts_read_the_daily_aggregates_not_the_calls(tmp_path):
    calls, facts = history(n_days=3)
    lake = write_lake(tmp_path, calls=calls, facts=facts)
    insights, overrides = config()
    build_all(lake, insights, overrides)
    totals = read_mart(lake, "unit_costs")

    for table in ("priced_usage", "fact_cost"):  # the history of calls and costs goes; the aggregates stay
        for partition in lake.table_dir(table).glob("*=*"):
            for file in partition.glob("*.parquet"):
                file.unlink()
    build_insights(lake, insights, overrides)

    assert read_mart(lake, "unit_costs") == totals
    assert sum(r["billed_usd"] for r in totals) == sum(f["amount_usd"] for f in facts)


def test_rerunning_a_day_replaces_its_aggregates_and_leaves_the_other_days(tmp_path):
    calls, facts = history(n_days=3)
    lake = write_lake(tmp_path, calls=calls, facts=facts)
    insights, overrides = config()
    build_all(lake, insights, overrides)
    before = {d: daily_file(lake, "costs", d).read_bytes() for d in lake_days(lake)}
    anomalies = insight_file(lake, "cost_anomalies").read_bytes()

    build_insight_day(lake, insights, overrides, DAYS[2])
    build_insights(lake, insights, overrides)

    assert {d: daily_file(lake, "costs", d).read_bytes() for d in lake_days(lake)} == before
    assert insight_file(lake, "cost_anomalies").read_bytes() == anomalies


def near_calls() -> list[dict]:
    """Prompts whose SimHashes are 0-4 bits from a successful prompt's, the bits in one band or spread over
    several; one across midnight (the look-back reads the day before's aggregate), one after the cache TTL."""
    day, next_day, later = DAYS[0], DAYS[1], DAYS[3]
    spread3 = (1 << 0) | (1 << 22) | (1 << 44)  # three bits in three of the six blocks
    spread4 = (1 << 1) | (1 << 23) | (1 << 45) | (1 << 62)  # four bits: too far (6 and 7 from the two above)
    planted = [
        ("base", day, 9, SIMHASH),
        ("two_bits", day, 10, SIMHASH ^ 0b101),
        ("three_spread", day, 11, SIMHASH ^ spread3),
        ("four_spread", day, 12, SIMHASH ^ spread4),
        ("far", day, 13, SIMHASH ^ 0xFFFF_0000_FFFF_0000),
        ("late_evening", day, 23, SIMHASH ^ (1 << 7)),
        ("after_midnight", next_day, 1, SIMHASH ^ (1 << 9)),
        ("days_later", later, 12, SIMHASH ^ (1 << 5)),
    ]
    return [
        call(at(d, hour), "0.05", prompt_hash=name, prompt_simhash=simhash, feature=name, team="support")
        for name, d, hour, simhash in planted
    ]


def test_planted_near_duplicates_are_found_by_banding_across_days_and_distant_prompts_are_not(tmp_path):
    lake = write_lake(tmp_path, calls=near_calls(), facts=[fact(DAYS[3], "1")])

    build_all(lake, InsightsConfig(), PriceOverrides(), tables=["prompt_duplication"])
    near = {r["feature"]: r["near_duplicate_calls"] for r in read_mart(lake, "prompt_duplication")}

    assert near == {
        "base": 0,
        "two_bits": 1,
        "three_spread": 1,
        "four_spread": 0,
        "far": 0,
        "late_evening": 1,
        "after_midnight": 1,  # 2 bits from late_evening, 1 from base: both within 24 h, on the day before
        "days_later": 0,  # 1 bit from base, but three days after the last near success
    }
