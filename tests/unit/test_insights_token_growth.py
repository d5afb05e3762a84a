"""Token growth: rolling means, the compounded daily growth of prompts, and a planted spike."""

from __future__ import annotations

from datetime import date

import pytest

from tests.insights_fixtures import at, call, days, fact, mart, write_lake

START = date(2026, 10, 1)
DIMS = {"team": "research", "feature": "paper_qa", "agent": "research_agent"}


def growing_calls(n_days: int, spike_day: int | None = None) -> list[dict]:
    """Two calls a day whose prompts grow 5 % a day (mean 1000 × 1.05^d) and responses stay at 200."""
    calls = []
    for d, day in enumerate(days(START, n_days)):
        mean = 1000 * 1.05**d * (3 if d == spike_day else 1)
        calls += [
            call(at(day, 9), input_tokens=round(mean * 0.8), output_tokens=100, **DIMS),
            call(at(day, 10), input_tokens=round(mean * 1.2), output_tokens=300, **DIMS),
        ]
    return calls


def test_context_growth_is_the_compounded_daily_growth_of_mean_prompt_tokens(tmp_path):
    # input_tokens are whole numbers: 1000 × 1.05^d × 0.8 is not, so the growth is asserted to 1e-4
    lake = write_lake(tmp_path, calls=growing_calls(10), facts=[fact(d, "1") for d in days(START, 10)])

    rows = mart(lake, "token_growth")

    last = rows[-1]
    assert len(rows) == 10 and last["charge_date"] == date(2026, 10, 10)
    assert last["calls"] == 2
    assert last["mean_output_tokens"] == 200 and last["response_growth_28d"] == pytest.approx(0, abs=1e-12)
    assert last["context_growth_7d"] == pytest.approx(0.05, abs=1e-4)
    assert last["context_growth_28d"] == pytest.approx(0.05, abs=1e-4)
    window = [1000 * 1.05**d for d in range(3, 10)]
    assert last["mean_input_tokens_7d"] == pytest.approx(sum(window) / 7, abs=1)
    assert not any(r["is_spike"] for r in rows)


def test_a_planted_prompt_spike_is_flagged_on_its_day(tmp_path):
    lake = write_lake(tmp_path, calls=growing_calls(12, spike_day=9), facts=[fact(d, "1") for d in days(START, 12)])

    rows = mart(lake, "token_growth")

    assert [r["charge_date"] for r in rows if r["is_spike"]] == [date(2026, 10, 10)]
    spike = next(r for r in rows if r["is_spike"])
    assert spike["mean_input_vs_baseline"] == pytest.approx(3 * 1.05**4, rel=1e-3)  # vs the median of days 2..8
