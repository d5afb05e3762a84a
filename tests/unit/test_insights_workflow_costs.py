"""Cost per workflow run, unit costs and ROI against a business-metric file, on planted data."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from assets.marts.insights import BusinessMetricsError
from assets.marts.insights_config import BusinessMetrics, InsightsConfig
from tests.insights_fixtures import at, call, fact, mart, telemetry, write_lake

DAY = date(2026, 11, 3)
WORKFLOW = {"team": "support", "feature": "reply_draft", "agent": "support_agent", "workflow": "resolve_ticket"}


def test_workflow_run_cost_is_billed_cost_over_runs_with_the_spread_of_run_list_costs(tmp_path):
    calls = [
        call(at(DAY, 9), "0.1", trace_id="t1", customer="c1", **WORKFLOW),
        call(at(DAY, 9, 1), "0.1", trace_id="t1", customer="c1", **WORKFLOW),
        call(at(DAY, 9, 2), "0.2", trace_id="t1", customer="c1", **WORKFLOW),
        call(at(DAY, 10), "0.2", trace_id="t2", customer="c2", **WORKFLOW),
        call(at(DAY, 11), "0.5", trace_id="t3", team="search", feature="query_rewrite"),
    ]
    facts = [fact(DAY, "10.00", **WORKFLOW), fact(DAY, "2.5", cost_category="gpu_idle", **WORKFLOW)]
    lake = write_lake(tmp_path, facts=facts, calls=calls)

    rows = mart(lake, "workflow_costs", where="workflow = 'resolve_ticket'")

    assert len(rows) == 1
    row = rows[0]
    assert (row["runs"], row["customers"], row["calls"], row["calls_per_run"]) == (2, 2, 4, 2.0)
    assert row["billed_usd"] == Decimal("12.5")
    assert row["billed_usd_per_run"] == Decimal("6.25")
    assert row["list_usd"] == Decimal("0.6")
    assert row["list_usd_per_run"] == Decimal("0.3")
    assert row["list_usd_per_run_p50"] == Decimal("0.3")
    assert row["list_usd_per_run_p95"] == Decimal("0.39")


def test_a_workflow_with_billed_cost_but_no_calls_still_shows_its_cost(tmp_path):
    lake = write_lake(tmp_path, facts=[fact(DAY, "4", **WORKFLOW)], calls=[call(at(DAY), team="search")])
    row = mart(lake, "workflow_costs", where="workflow = 'resolve_ticket'")[0]
    assert (row["runs"], row["billed_usd"], row["billed_usd_per_run"]) == (0, Decimal("4"), None)


def test_unit_costs_divide_billed_cost_by_requests_tokens_and_interactions(tmp_path):
    dims = {"team": "support", "feature": "reply_draft", "customer": "c1"}
    facts = [
        fact(DAY, "3.00", **dims),
        fact(DAY, "1.00", cost_category="observability", allocation_rule="observability", **dims),
        telemetry(DAY, requests=8, input_tokens=15_000, output_tokens=5_000, **dims),
    ]
    calls = [call(at(DAY, h), trace_id=f"t{h % 2}", **dims) for h in range(8)]
    lake = write_lake(tmp_path, facts=facts, calls=calls)

    (row,) = mart(lake, "unit_costs")

    assert (row["requests"], row["input_tokens"], row["output_tokens"], row["interactions"]) == (8, 15_000, 5_000, 2)
    assert row["billed_usd"] == Decimal("4")
    assert row["usd_per_request"] == Decimal("0.5")
    assert row["usd_per_1k_tokens"] == Decimal("0.2")
    assert row["usd_per_interaction"] == Decimal("2")


def test_roi_of_revenue_and_cost_per_unit_of_a_count_from_the_business_metric_file(tmp_path):
    facts = [
        fact(DAY, "10", feature="reply_draft", customer="c1"),
        fact(DAY, "6", feature="reply_draft", customer="c2"),
        fact(DAY, "4", feature="kb_answer", customer="c1"),
    ]
    metrics = tmp_path / "metrics.csv"
    metrics.write_text(
        f"date,metric,value,feature,customer\n{DAY},revenue,30,,c1\n{DAY},tickets_resolved,4,reply_draft,\n"
    )
    lake = write_lake(tmp_path / "lake", facts=facts)
    config = InsightsConfig(business_metrics=BusinessMetrics(file=metrics, revenue=["revenue"]))

    rows = {r["metric"]: r for r in mart(lake, "business_roi", config)}

    revenue, tickets = rows["revenue"], rows["tickets_resolved"]
    assert (revenue["feature"], revenue["customer"], revenue["is_revenue"]) == (None, "c1", True)
    assert revenue["billed_usd"] == Decimal("14")
    assert revenue["margin_usd"] == Decimal("16")
    assert revenue["roi"] == Decimal("1.142857")
    assert revenue["usd_per_unit"] is None
    assert tickets["billed_usd"] == Decimal("16")
    assert tickets["usd_per_unit"] == Decimal("4")
    assert tickets["roi"] is None


def test_a_bad_row_in_the_business_metric_file_fails_naming_file_row_and_column(tmp_path):
    metrics = tmp_path / "metrics.csv"
    metrics.write_text(f"date,metric,value\n{DAY},revenue,30\n{DAY},revenue,lots\n")
    lake = write_lake(tmp_path / "lake", facts=[fact(DAY, "1")])
    config = InsightsConfig(business_metrics=BusinessMetrics(file=metrics, revenue=["revenue"]))

    with pytest.raises(BusinessMetricsError, match=r"metrics.csv:2: value: not a valid decimal\(38,10\) \('lots'\)"):
        mart(lake, "business_roi", config)
