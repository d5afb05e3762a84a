"""Retry and failure spend: a planted retry storm shows up with its spend, per feature, agent and model."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from tests.insights_fixtures import at, call, fact, mart, write_lake

DAY = date(2026, 11, 3)
DIMS = {"team": "support", "feature": "reply_draft", "agent": "support_agent", "model": "claude-sonnet-4-5"}


def storm() -> list[dict]:
    """Three logical calls on one trace: a storm of three failed attempts then a success, a call that fails
    outright, a call that succeeds at once; plus a healthy call of another feature."""
    p = {"trace_id": "t1", "provider": "anthropic", **DIMS}
    return [
        *(
            call(at(DAY, 9, i), "0.004", prompt_hash="p1", attempt=i + 1, status="error", output_tokens=0, **p)
            for i in range(3)
        ),
        call(at(DAY, 9, 3), "0.01", prompt_hash="p1", attempt=4, **p),
        call(at(DAY, 9, 5), "0.004", prompt_hash="p2", status="error", output_tokens=0, **p),
        call(at(DAY, 9, 6), "0.01", prompt_hash="p3", **p),
        call(at(DAY, 10), "0.02", prompt_hash="p9", feature="kb_answer", team="support"),
    ]


def test_a_retry_storm_shows_up_with_its_spend_and_shares(tmp_path):
    facts = [
        fact(DAY, "0.0200", provider="anthropic", is_retry=False, **DIMS),
        fact(DAY, "0.0180", provider="anthropic", is_retry=True, **DIMS),
    ]
    lake = write_lake(tmp_path, facts=facts, calls=storm())

    (row,) = mart(lake, "retry_spend", where="feature = 'reply_draft'")

    assert (row["agent"], row["provider"], row["model"]) == ("support_agent", "anthropic", "claude-sonnet-4-5")
    assert (row["calls"], row["attempts"], row["retried_calls"], row["failed_calls"]) == (3, 6, 1, 1)
    assert (row["retry_attempts"], row["failed_attempts"]) == (3, 4)
    assert row["list_usd"] == Decimal("0.036")
    assert row["retry_list_usd"] == Decimal("0.018")  # attempts 2, 3 and 4
    assert row["failed_list_usd"] == Decimal("0.016")  # four failed attempts bought nothing
    assert row["retried_or_failed_list_usd"] == Decimal("0.026")
    assert row["retry_share"] == Decimal("0.5")
    assert row["failed_share"] == Decimal("0.444444")
    assert (row["billed_usd"], row["billed_retry_usd"]) == (Decimal("0.038"), Decimal("0.018"))


def test_healthy_calls_have_no_retry_spend(tmp_path):
    lake = write_lake(tmp_path, calls=storm(), facts=[fact(DAY, "1")])
    (row,) = mart(lake, "retry_spend", where="feature = 'kb_answer'")
    assert (row["retried_calls"], row["failed_calls"], row["retry_list_usd"], row["failed_list_usd"]) == (
        0,
        0,
        Decimal(0),
        Decimal(0),
    )
    assert row["retry_share"] == Decimal(0)


def test_the_same_prompt_retried_later_in_a_trace_is_a_new_logical_call(tmp_path):
    p = {"trace_id": "t1", "prompt_hash": "p1"}
    calls = [
        call(at(DAY, 9, 0), status="error", **p),
        call(at(DAY, 9, 1), attempt=2, **p),
        call(at(DAY, 9, 5), **p),
    ]
    (row,) = mart(write_lake(tmp_path, calls=calls, facts=[fact(DAY, "1")]), "retry_spend")
    assert (row["calls"], row["attempts"], row["retried_calls"], row["failed_calls"]) == (2, 3, 1, 0)
