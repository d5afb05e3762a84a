"""Cost anomalies: planted spikes are found on the right day and dimension, with the driver that moved them."""

from __future__ import annotations

from datetime import date

from assets.marts.insights_config import InsightsConfig
from tests.insights_fixtures import days, fact, mart, telemetry, write_lake

START = date(2026, 9, 28)  # a Monday; eight weeks to 2026-11-22
SPIKE = date(2026, 11, 18)  # a Wednesday: three times the requests on search
BLOAT = date(2026, 11, 20)  # a Friday: three times the tokens per request on support
SERIES = {
    "search": {"feature": "query_rewrite", "agent": "search_agent", "model": "gpt-4o-mini", "provider": "openai"},
    "support": {"feature": "reply_draft", "agent": "support_agent", "model": "claude-sonnet-4-5"},
}


def history() -> list[dict]:
    rows = []
    for i, day in enumerate(days(START, 56)):
        wobble = (i * 7) % 5 - 2  # -2..2, deterministic
        for team, base in (("search", 100), ("support", 50)):
            requests = (1000 + 10 * wobble) * (3 if (team, day) == ("search", SPIKE) else 1)
            tokens_per_request = 1000 * (3 if (team, day) == ("support", BLOAT) else 1)
            cost = (base + wobble) * requests * tokens_per_request / (1000 + 10 * wobble) / 1000
            dims = {"team": team, **SERIES[team]}
            rows.append(fact(day, f"{cost:.4f}", **dims))
            rows.append(
                telemetry(
                    day, requests, requests * tokens_per_request * 9 // 10, requests * tokens_per_request // 10, **dims
                )
            )
    return rows


def test_planted_anomalies_are_found_on_their_day_and_dimension_with_their_driver(tmp_path):
    lake = write_lake(tmp_path, facts=history())

    rows = mart(lake, "cost_anomalies", InsightsConfig())

    found = {(r["charge_date"], r["dimension"], r["value"]): r for r in rows if r["is_anomaly"]}
    assert set(found) == {
        (SPIKE, "team", "search"),
        (SPIKE, "feature", "query_rewrite"),
        (SPIKE, "agent", "search_agent"),
        (SPIKE, "model", "gpt-4o-mini"),
        (BLOAT, "team", "support"),
        (BLOAT, "feature", "reply_draft"),
        (BLOAT, "agent", "support_agent"),
        (BLOAT, "model", "claude-sonnet-4-5"),
    }
    spike = found[(SPIKE, "team", "search")]
    assert (spike["direction"], spike["driver"], spike["baseline_kind"], spike["baseline_days"]) == (
        "up",
        "requests",
        "weekday",
        6,
    )
    assert spike["cost_usd"] == 300 + 3 * ((51 * 7) % 5 - 2)
    assert spike["robust_z"] > 10
    bloat = found[(BLOAT, "team", "support")]
    assert (bloat["direction"], bloat["driver"]) == ("up", "tokens")
    assert abs(bloat["tokens_effect"] - 1.0986) < 1e-3  # ln 3


def test_every_day_of_every_series_is_scored_and_days_without_history_have_no_baseline(tmp_path):
    lake = write_lake(tmp_path, facts=history())

    rows = mart(lake, "cost_anomalies", InsightsConfig())

    assert len(rows) == 56 * 8
    first = [r for r in rows if r["charge_date"] == START]
    assert {(r["baseline_kind"], r["is_anomaly"]) for r in first} == {(None, False)}
