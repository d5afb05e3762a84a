"""Budgets (month to date, forecast to month end, status) and the per-team cost forecast with its interval."""

from __future__ import annotations

import math
import statistics
from datetime import date
from decimal import Decimal

from assets.marts.insights_config import Budget, InsightsConfig
from tests.insights_fixtures import days, fact, mart, write_lake

AS_OF = date(2026, 11, 10)


def test_month_to_date_forecast_and_status_of_each_budget(tmp_path):
    facts = [fact(date(2026, 10, 31), "70", team="search")]
    for day in days(date(2026, 11, 1), 10):
        facts += [
            fact(day, "50", team="search"),
            fact(day, "30", team="support"),
            fact(day, "10", team="sales", feature="lead_scoring"),
        ]
    budgets = [
        Budget(name="search_monthly", team="search", monthly_usd=Decimal("1000")),
        Budget(name="support_monthly", team="support", monthly_usd=Decimal("200")),
        Budget.model_validate({"name": "leads", "feature": "lead_scoring", "monthly_usd": 500, "from": "2026-11-01"}),
    ]
    lake = write_lake(tmp_path, facts=facts)

    rows = {(r["budget"], r["month"]): r for r in mart(lake, "budget_status", InsightsConfig(budgets=budgets))}

    assert set(rows) == {
        ("search_monthly", date(2026, 10, 1)),
        ("search_monthly", date(2026, 11, 1)),
        ("support_monthly", date(2026, 10, 1)),
        ("support_monthly", date(2026, 11, 1)),
        ("leads", date(2026, 11, 1)),
    }
    search = rows[("search_monthly", date(2026, 11, 1))]
    assert (search["as_of"], search["remaining_days"], search["mtd_usd"]) == (AS_OF, 20, Decimal("500"))
    assert (search["forecast_usd"], search["forecast_share"], search["status"]) == (
        Decimal("1500.00"),
        Decimal("1.5"),
        "at_risk",
    )
    october = rows[("search_monthly", date(2026, 10, 1))]
    assert (october["mtd_usd"], october["forecast_usd"], october["remaining_days"], october["status"]) == (
        Decimal("70"),
        Decimal("70.00"),
        0,
        "ok",
    )
    assert (
        rows[("support_monthly", date(2026, 11, 1))]["status"],
        rows[("support_monthly", date(2026, 11, 1))]["used_share"],
    ) == ("over", Decimal("1.5"))
    leads = rows[("leads", date(2026, 11, 1))]
    assert (leads["mtd_usd"], leads["forecast_usd"], leads["status"]) == (Decimal("100"), Decimal("300.00"), "ok")


def test_forecast_sums_the_trend_over_each_horizon_with_an_interval(tmp_path):
    history = days(date(2026, 9, 16), 56)
    assert history[-1] == AS_OF
    facts = [fact(day, str(100 + 2 * i), team="search") for i, day in enumerate(history)]
    facts += [fact(day, "120" if i % 2 else "80", team="support") for i, day in enumerate(history)]
    lake = write_lake(tmp_path, facts=facts)

    rows = {(r["team"], r["horizon_days"]): r for r in mart(lake, "cost_forecast")}

    search30, search90 = rows[("search", 30)], rows[("search", 90)]
    assert (search30["as_of"], search30["history_days"], search30["daily_trend_usd"]) == (AS_OF, 56, Decimal("2.00"))
    # the last day costs 210; the next h days cost 210 + 2k for k = 1..h
    assert search30["forecast_usd"] == Decimal(30 * 210 + 30 * 31) == search30["lower_usd"] == search30["upper_usd"]
    assert search90["forecast_usd"] == Decimal(90 * 210 + 90 * 91)
    # an alternating series, fitted independently: least squares on t = -55..0, residual σ with n - 2 degrees
    ys = [120.0 if i % 2 else 80.0 for i in range(56)]
    fit = statistics.linear_regression(range(-55, 1), ys)
    residuals = [y - fit.intercept - fit.slope * t for t, y in zip(range(-55, 1), ys, strict=True)]
    sigma = math.sqrt(sum(r**2 for r in residuals) / 54)
    point = 30 * fit.intercept + fit.slope * 30 * 31 / 2
    half = statistics.NormalDist().inv_cdf(0.9) * sigma * math.sqrt(30)
    support = rows[("support", 30)]
    assert (support["forecast_usd"], support["lower_usd"], support["upper_usd"]) == tuple(
        Decimal(f"{v:.2f}") for v in (point, point - half, point + half)
    )


def test_a_single_day_of_history_forecasts_its_level_flat(tmp_path):
    lake = write_lake(tmp_path, facts=[fact(AS_OF, "40", team="search")])
    rows = {(r["team"], r["horizon_days"]): r for r in mart(lake, "cost_forecast")}
    search = rows[("search", 30)]
    assert (search["history_days"], search["daily_trend_usd"], search["forecast_usd"]) == (
        1,
        Decimal("0.00"),
        Decimal("1200.00"),
    )
