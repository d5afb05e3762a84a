"""Small real samples written by others (tests/fixtures/real, origins in its SOURCES.md) through every layer: land,
stage, price, allocate and the marts. Expected tokens are the writers' own; expected list prices are computed here
independently with genai-prices' `calc_price`, and compared with the writer's own figure where it has one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from genai_prices import Usage, calc_price

from assets.allocation.engine import allocate
from assets.config import load_settings
from assets.marts.facts import build_marts
from assets.pricing import price_day
from assets.raw import land_day
from assets.sql import connect
from assets.staging import stage_day
from tests.unit.test_staging import staged

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real"


@dataclass
class Run:
    usage: list[dict]
    priced: list[dict]
    cost_lines: list[dict]
    quarantine: list[dict]
    reconciliation: list[tuple]


def run(tmp_path: Path, kind: str, path: Path | str, day: date, options: str = "") -> Run:
    """`apportion run` for one source and one day: every layer, then the day's tables."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "allocation.yaml").write_text("rules: []\n")
    (tmp_path / "apportion.yaml").write_text(
        "allocation: allocation.yaml\nprices: null\n"
        f"sources:\n  - {{name: sample, kind: {kind}, path: '{path}'{options}}}\n"
    )
    settings = load_settings(tmp_path / "apportion.yaml")
    land_day(settings, day)
    stage_day(settings, day)
    price_day(settings, day)
    allocate(settings, day)
    build_marts(settings, day)
    with connect() as con:
        reconciliation = con.execute(
            "select files, rows_quarantined, source_total, allocated + unallocated, complete from read_parquet($f)",
            {"f": str(settings.app.lake / "marts" / "reconciliation" / f"charge_date={day}" / "*.parquet")},
        ).fetchall()
    return Run(
        *(staged(settings, t, day) for t in ("usage_events", "priced_usage", "cost_lines", "quarantine")),
        reconciliation,
    )


def list_price(model: str, provider: str, at: datetime, **usage: int) -> Decimal:
    return calc_price(Usage(**usage), model_ref=model, provider_id=provider, genai_request_timestamp=at).total_price


def tokens(row: dict) -> tuple:
    return tuple(
        row[c]
        for c in (
            "input_tokens",
            "cache_read_tokens",
            "cache_write_tokens",
            "cache_write_1h_tokens",
            "output_tokens",
            "web_search_requests",
        )
    )


def test_litellm_spend_log_row_from_litellms_own_tests(tmp_path: Path) -> None:
    out = run(tmp_path, "litellm_spendlogs", REAL / "litellm" / "spend_logs_payload.jsonl", date(2025, 1, 24))
    assert out.quarantine == []
    (call,) = out.priced
    assert (call["provider"], call["model"], call["operation"], call["status"]) == ("openai", "gpt-4o", "chat", "ok")
    assert (call["input_tokens"], call["output_tokens"], call["usage_flag"]) == (10, 20, None)
    expected = list_price(
        "gpt-4o", "openai", datetime(2025, 1, 24, 9, 20, tzinfo=UTC), input_tokens=10, output_tokens=20
    )
    assert call["list_cost"] == expected == Decimal("0.000225")  # LiteLLM's own `spend`: 0.000225
    assert out.reconciliation == [(1, 0, 0, 0, True)]


def test_langfuse_generations_written_by_litellm_name_no_provider_and_are_priced_under_the_inferred_one(
    tmp_path: Path,
) -> None:
    path = REAL / "langfuse" / "litellm_generations.jsonl"
    may = run(tmp_path / "may", "langfuse_observations", path, date(2025, 5, 26))
    assert may.quarantine == []
    by_model = {r["model"]: r for r in may.priced}
    bedrock, vertex = by_model["anthropic.claude-3-5-sonnet-20240620-v1:0"], by_model["gemini-2.0-flash-001"]
    assert (bedrock["provider"], bedrock["x_SourceRow"], vertex["provider"], vertex["x_SourceRow"]) == (
        "aws",
        2,
        "google",
        3,
    )
    assert tokens(bedrock) == tokens(vertex) == (10, 0, 0, None, 10, None)
    at = datetime(2025, 5, 26, 21, 13, tzinfo=UTC)
    assert bedrock["list_cost"] == list_price(bedrock["model"], "aws", at, input_tokens=10, output_tokens=10)
    assert bedrock["list_cost"] == Decimal("0.00018")  # LiteLLM's own response_cost: 0.00018
    assert vertex["list_cost"] == list_price(vertex["model"], "google", at, input_tokens=10, output_tokens=10)
    assert vertex["list_cost"] == Decimal("0.000005")  # LiteLLM's own response_cost: 7.5e-06 (Vertex AI rates)

    january = run(tmp_path / "january", "langfuse_observations", path, date(2025, 1, 16))
    (embedding,) = january.priced
    assert (embedding["provider"], embedding["model"], embedding["x_SourceRow"]) == (
        "openai",
        "text-embedding-ada-002",
        1,
    )
    assert (embedding["input_tokens"], embedding["output_tokens"], embedding["usage_flag"]) == (2, 0, None)
    at = datetime(2025, 1, 16, 19, 46, tzinfo=UTC)
    assert embedding["list_cost"] == list_price(embedding["model"], "openai", at, input_tokens=2, output_tokens=0)
    assert embedding["list_cost"] == Decimal("0.0000002")  # LiteLLM's own response_cost: 2e-07


def test_openai_usage_page_from_the_openapi_spec_is_staged_unpriced_and_its_day_incomplete(tmp_path: Path) -> None:
    out = run(tmp_path, "openai_usage", REAL / "openai" / "usage" / "{date}", date(2024, 11, 1))
    (bucket,) = out.priced
    assert tokens(bucket) == (1000, 400, 100, None, 500, None)
    assert (bucket["model"], bucket["request_count"], bucket["operation"]) == (None, 5, "chat:bucket")
    assert bucket["list_cost"] is None  # the example is not grouped by model: nothing to price it at, not 0
    assert [r["reason"] for r in out.quarantine] == [
        "incomplete page set: page 1 is the last saved but says more follow "
        "(next_page page_AAAAAGdGxdEiJdKOAAAAAGcqsYA=); the day's later pages are missing"
    ]
    assert out.reconciliation == [(1, 1, 0, 0, False)]


def test_openai_costs_page_from_the_openapi_spec_reconciles_to_its_amount(tmp_path: Path) -> None:
    out = run(tmp_path, "openai_costs", REAL / "openai" / "costs" / "{date}", date(2024, 11, 1))
    assert [(r["BilledCost"], r["BillingCurrency"]) for r in out.cost_lines] == [(Decimal("0.06"), "USD")]
    assert out.reconciliation == [(1, 0, Decimal("0.06"), Decimal("0.06"), True)]


def test_anthropic_usage_report_example_keeps_cache_writes_and_web_searches_and_is_incomplete(tmp_path: Path) -> None:
    out = run(tmp_path, "anthropic_usage", REAL / "anthropic" / "usage" / "{date}", date(2025, 8, 1))
    (bucket,) = out.priced
    assert tokens(bucket) == (3200, 200, 1500, 1000, 500, 10)
    assert (bucket["provider"], bucket["model"], bucket["operation"]) == (
        "anthropic",
        "claude-sonnet-4-20250514",
        "chat:bucket:0-200k",
    )
    expected = list_price(
        "claude-sonnet-4-20250514",
        "anthropic",
        datetime(2025, 8, 1, tzinfo=UTC),
        input_tokens=3200,
        cache_read_tokens=200,
        cache_write_tokens=1500,
        cache_write_1h_tokens=1000,
        output_tokens=500,
        web_searches=10,
    )
    assert bucket["list_cost"] == expected == Decimal("0.119935")  # $0.019935 of tokens + 10 searches at $10/1k
    assert out.reconciliation == [(1, 1, 0, 0, False)]


def test_anthropic_cost_report_example_is_in_dollars_and_its_day_incomplete(tmp_path: Path) -> None:
    out = run(tmp_path, "anthropic_costs", REAL / "anthropic" / "costs" / "{date}", date(2025, 8, 1))
    assert [(r["BilledCost"], r["x_Model"]) for r in out.cost_lines] == [
        (Decimal("1.2378912"), "claude-sonnet-4-20250514")
    ]
    assert out.reconciliation == [(1, 1, Decimal("1.2378912"), Decimal("1.2378912"), False)]
