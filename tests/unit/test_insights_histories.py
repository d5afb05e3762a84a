"""Every insight mart and the report on the histories a new install has: none at all, a single day, and a few days
with gaps of several days. Nothing crashes or divides by zero; what too few points cannot give is null."""

from __future__ import annotations

import statistics
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from assets.lake import Lake, write_parquet
from assets.marts.insights import INSIGHT_TABLES, build_insights, insight_file
from assets.marts.insights_config import Budget, BusinessMetrics, InsightsConfig, ModelTier, RoutingRule
from assets.pricing import PriceOverrides
from assets.report import render_report
from assets.sql import connect
from tests.insights_fixtures import at, build_all, call, fact, read_mart, write_lake

D0 = date(2026, 11, 3)
SPARSE = [D0, D0 + timedelta(days=5), D0 + timedelta(days=6), D0 + timedelta(days=17)]
"""Four days over eighteen, with gaps of four and ten days."""
CHAT = {"team": "a", "feature": "chat", "agent": "bot"}
BILLED = {**CHAT, "customer": "c1", "workflow": "w", "provider": "openai", "model": "gpt-4o"}


def config(tmp_path: Path) -> tuple[InsightsConfig, PriceOverrides]:
    """Budgets, routing and a business metric, so that no mart is empty for want of configuration."""
    metrics = tmp_path / "metrics.csv"
    metrics.write_text("date,metric,value\n" + "".join(f"{d},revenue,30\n" for d in SPARSE))
    routing = RoutingRule(
        name="small_to_cheap",
        provider="openai",
        models=["gpt-4o"],
        to=ModelTier(provider="openai", model="cheap-model"),
        max_input_tokens=1500,
        max_output_tokens=200,
    )
    return (
        InsightsConfig(
            budgets=[Budget(name="a_monthly", team="a", monthly_usd=Decimal("300"))],
            routing=[routing],
            business_metrics=BusinessMetrics(file=metrics, revenue=["revenue"]),
        ),
        PriceOverrides.model_validate(
            {
                "prices": [
                    {"name": "cheap", "provider": "openai", "model": "cheap-model", "input_mtok": 1, "output_mtok": 2}
                ]
            }
        ),
    )


def build(lake: Lake, tmp_path: Path) -> dict[str, list[dict]]:
    insights, overrides = config(tmp_path)
    built = build_all(lake, insights, overrides)
    assert set(built.rows) == set(INSIGHT_TABLES)
    marts = {table: read_mart(lake, table) for table in INSIGHT_TABLES}
    assert {t: len(rows) for t, rows in marts.items()} == built.rows
    return marts


def lake_of(tmp_path: Path, days: list[date]) -> Lake:
    """`a` bills 10 + i on the i-th day (one line with a cost line owned by nobody), `b` 5; two calls a day of
    team a, the same prompt sent twice, the first one small enough to route."""
    facts, calls, lines, pieces = [], [], [], []
    for i, day in enumerate(days):
        facts += [fact(day, str(10 + i), **BILLED), fact(day, "5", team="b")]
        calls += [
            call(at(day, 9), "0.01", input_tokens=1000 * (i + 1), prompt_hash="p", **CHAT),
            call(at(day, 10), "0.03", input_tokens=3000, prompt_hash="p", **CHAT),
        ]
        lines.append(
            {"charge_date": day, "x_LineId": f"L{i}", "BilledCost": Decimal(5), "EffectiveCost": Decimal(5),
             "BillingCurrency": "USD", "ChargeCategory": "Usage", "x_ApiKeyId": "key_orphan", "x_Provider": "openai"}
        )  # fmt: skip
        pieces.append(
            {"charge_date": day, "line_id": f"L{i}", "amount": Decimal(5), "team": None,
             "allocation_rule": "unallocated", "unallocated_reason": "no rule"}
        )  # fmt: skip
    return write_lake(tmp_path / "lake", facts=facts, calls=calls, lines=lines, pieces=pieces)


def fact_cost_total(lake: Lake) -> Decimal:
    with connect() as con:
        return con.execute("select sum(amount_usd) from read_parquet($g)", {"g": lake.glob("fact_cost")}).fetchall()[0][
            0
        ]


def column_types(lake: Lake, table: str) -> list[tuple[str, str]]:
    with connect() as con:
        rows = con.execute("describe select * from read_parquet($f)", {"f": str(insight_file(lake, table))})
        return [(name, kind) for name, kind, *_ in rows.fetchall()]


def empty_fact_cost_partition(lake: Lake) -> None:
    """A day that staged nothing: the pipeline writes fact_cost with its columns and no row."""
    path = lake.partition_file("fact_cost", D0)
    with connect() as con:
        write_parquet(con, f"select * from read_parquet('{path}') where false", path)


@pytest.mark.parametrize("history", ["no fact_cost at all", "a fact_cost partition without rows"])
def test_with_no_history_every_mart_is_written_empty_with_its_columns_and_the_report_says_no_data(tmp_path, history):
    typed = lake_of(tmp_path / "typed", [D0])
    build(typed, tmp_path)
    if history == "no fact_cost at all":
        lake = write_lake(tmp_path / "empty")
    else:
        lake = lake_of(tmp_path / "empty", [D0])
        empty_fact_cost_partition(lake)
    insights, overrides = config(tmp_path)

    built = build_insights(lake, insights, overrides)

    assert built.as_of is None
    assert built.rows == dict.fromkeys(INSIGHT_TABLES, 0)
    for table in INSIGHT_TABLES:
        assert column_types(lake, table) == column_types(typed, table), table
    html = render_report(lake)
    assert 'id="no_data"' in html
    assert "AI cost report: no data yet" in html
    assert "apportion run" in html


def test_one_day_every_mart_carries_that_days_costs(tmp_path):
    lake = lake_of(tmp_path, [D0])

    marts = build(lake, tmp_path)

    total = fact_cost_total(lake)
    assert total == Decimal(15)
    assert {t: len(r) for t, r in marts.items()} == {
        "workflow_costs": 3,
        "unit_costs": 2,
        "business_roi": 1,
        "retry_spend": 1,
        "token_growth": 1,
        "prompt_duplication": 1,
        "repeated_prompts": 1,
        "model_scorecard": 1,
        "routing_savings": 1,
        "shadow_ai": 2,
        "attribution_coverage": 5,
        "cost_anomalies": 8,
        "budget_status": 1,
        "cost_forecast": 4,
    }
    assert sum(r["billed_usd"] for r in marts["workflow_costs"]) == total
    assert sum(r["billed_usd"] for r in marts["unit_costs"]) == total
    assert marts["business_roi"][0]["billed_usd"] == total
    assert [r["total_usd"] for r in marts["attribution_coverage"]] == [total] * 5
    for dimension in ("team", "feature", "agent", "model"):
        anomalies = [r for r in marts["cost_anomalies"] if r["dimension"] == dimension]
        assert sum(r["cost_usd"] for r in anomalies) == total
        # one day is no baseline: said by a null baseline, never flagged
        assert {(r["baseline_kind"], r["baseline_usd"], r["robust_z"], r["is_anomaly"]) for r in anomalies} == {
            (None, None, None, False)
        }
    growth = marts["token_growth"][0]
    assert (growth["calls"], growth["mean_input_tokens"], growth["mean_input_tokens_7d"]) == (2, 2000.0, 2000.0)
    assert (growth["context_growth_7d"], growth["context_growth_28d"], growth["response_growth_7d"]) == (
        None,
        None,
        None,
    )
    assert (marts["retry_spend"][0]["calls"], marts["retry_spend"][0]["list_usd"]) == (2, Decimal("0.04"))
    scorecard = marts["model_scorecard"][0]
    assert (scorecard["calls"], scorecard["billed_usd"], scorecard["usd_per_successful_call"]) == (
        2,
        Decimal(10),
        Decimal(5),
    )
    assert (marts["repeated_prompts"][0]["calls"], marts["routing_savings"][0]["routable_calls"]) == (2, 1)
    assert {(r["kind"], r["key"]): r["unowned_usd"] for r in marts["shadow_ai"]} == {
        ("api_key", "key_orphan"): Decimal(5),
        ("vendor", "openai"): Decimal(5),
    }
    budget = marts["budget_status"][0]
    # the run rate of a single day: 10 a day for the 27 days left
    assert (budget["mtd_usd"], budget["remaining_days"], budget["forecast_usd"]) == (Decimal(10), 27, Decimal(280))
    forecast = {(r["team"], r["horizon_days"]): r for r in marts["cost_forecast"]}
    # flat at the day's level; one day has no residual, so no interval rather than a zero-width one
    assert [(r["history_days"], r["forecast_usd"], r["lower_usd"], r["upper_usd"]) for r in forecast.values()] == [
        (1, Decimal(300), None, None),
        (1, Decimal(900), None, None),
        (1, Decimal(150), None, None),
        (1, Decimal(450), None, None),
    ]
    html = render_report(lake)
    assert "no interval: too few days of history" in html
    assert "$15.00" in html


def test_sparse_days_fill_gaps_with_zero_and_keep_every_total(tmp_path):
    lake = lake_of(tmp_path, SPARSE)

    marts = build(lake, tmp_path)

    total = fact_cost_total(lake)
    assert total == Decimal(10 + 11 + 12 + 13 + 4 * 5)
    assert sum(r["billed_usd"] for r in marts["workflow_costs"]) == total
    assert sum(r["billed_usd"] for r in marts["unit_costs"]) == total
    assert sum(r["total_usd"] for r in marts["attribution_coverage"] if r["dimension"] == "team") == total
    assert sum(r["billed_usd"] for r in marts["business_roi"]) == total
    assert len(marts["repeated_prompts"]) == 1 and marts["repeated_prompts"][0]["calls"] == 8
    assert sum(r["routable_calls"] for r in marts["routing_savings"]) == 1
    # every day from the first to the last, gaps as 0: 18 days × (2 teams, 2 features, 2 agents, 2 models)
    anomalies = marts["cost_anomalies"]
    assert len(anomalies) == 18 * 8
    assert sum(r["cost_usd"] for r in anomalies if r["dimension"] == "team") == total
    assert {r["cost_usd"] for r in anomalies if r["charge_date"] == D0 + timedelta(days=1)} == {Decimal(0)}
    assert not any(r["robust_z"] is not None and not _finite(r["robust_z"]) for r in anomalies)
    growth = {r["charge_date"]: r for r in marts["token_growth"]}
    assert len(growth) == 4
    # the first day and the one ten days after the last have a single day in their 7-day window: no trend
    assert (growth[SPARSE[0]]["context_growth_7d"], growth[SPARSE[3]]["context_growth_7d"]) == (None, None)
    # mean prompt 2000 on day 0, 2500 on day 5: (2500 / 2000) ** (1 / 5) - 1 a day
    assert growth[SPARSE[1]]["context_growth_7d"] == pytest.approx(1.25 ** (1 / 5) - 1)
    assert growth[SPARSE[3]]["context_growth_28d"] is not None
    budget = marts["budget_status"][0]
    # November to the 20th: everything; the last seven days hold only the 20th's 13
    assert (budget["mtd_usd"], budget["forecast_usd"]) == (Decimal(46), round(Decimal(46) + Decimal(13 * 10) / 7, 2))
    forecast = {(r["team"], r["horizon_days"]): r for r in marts["cost_forecast"]}
    assert {r["history_days"] for r in forecast.values()} == {18}
    assert all(r["lower_usd"] <= r["forecast_usd"] <= r["upper_usd"] for r in forecast.values())
    # b costs 5 on 4 of 18 days and 0 between, fitted independently (least squares on t = -17..0)
    billed = {(day - SPARSE[3]).days for day in SPARSE}
    fit = statistics.linear_regression(range(-17, 1), [5.0 if t in billed else 0.0 for t in range(-17, 1)])
    expected = max(30 * fit.intercept + fit.slope * 30 * 31 / 2, 0)
    assert float(forecast[("b", 30)]["forecast_usd"]) == pytest.approx(expected, abs=0.005)
    assert forecast[("b", 30)]["upper_usd"] > forecast[("b", 30)]["forecast_usd"]
    html = render_report(lake)
    assert f"${float(total):,.2f}" in html


def _finite(value: float) -> bool:
    return value == value and value not in (float("inf"), float("-inf"))
