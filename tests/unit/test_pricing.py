"""The pricing layer: calls priced at the dated catalog and override prices, to the exact decimal."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from assets.config import ConfigError
from assets.pricing import (
    CATALOG_SOURCE,
    Alias,
    Discount,
    ModelRef,
    PriceOverride,
    PriceOverrides,
    load_price_overrides,
    price_usage,
)
from assets.schemas import STAGED_USAGE_EVENTS
from assets.sql import connect

EXAMPLE_OVERRIDES = Path(__file__).resolve().parents[2] / "config" / "prices.yaml"
MAY = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)
ARN = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6"
MTOK = 1_000_000


def call(provider: str, model: str | None, at: datetime = MAY, **tokens: Any) -> dict[str, Any]:
    return {"event_time": at, "provider": provider, "model": model, "operation": "chat", **tokens}


def load_usage_day(con: duckdb.DuckDBPyConnection, calls: list[dict[str, Any]]) -> None:
    """The view `usage_day` over these calls, typed like staged usage events."""
    columns = ", ".join(f"{name} {type_}" for name, type_ in STAGED_USAGE_EVENTS)
    con.execute(f"create or replace table usage_rows ({columns})")
    for row_number, values in enumerate(calls, start=1):
        row = {"x_Source": "app", "x_SourceFile": "calls.jsonl", "x_SourceRow": row_number, **values}
        names = ", ".join(row)
        con.execute(f"insert into usage_rows ({names}) values ({', '.join('$' + n for n in row)})", row)
    con.execute("create or replace view usage_day as select * from usage_rows")


def priced(calls: list[dict[str, Any]], overrides: PriceOverrides | None = None) -> list[tuple]:
    """(list_cost, catalog_model, price_source) of each call, in input order."""
    con = connect()
    load_usage_day(con, calls)
    price_usage(con, overrides or PriceOverrides())
    return con.execute("select list_cost, catalog_model, price_source from priced_day order by x_SourceRow").fetchall()


def costs(calls: list[dict[str, Any]], overrides: PriceOverrides | None = None) -> list[Decimal | None]:
    return [row[0] for row in priced(calls, overrides)]


def test_gpt_4o_call_costs_its_list_price() -> None:
    assert priced([call("openai", "gpt-4o", input_tokens=1000, output_tokens=100)]) == [
        (Decimal("0.0035"), "gpt-4o", CATALOG_SOURCE)
    ]


def test_anthropic_cache_reads_and_5m_and_1h_cache_writes_each_pay_their_own_price() -> None:
    # opus 5: 5 input, 0.5 cache read, 6.25 cache write (5m), 10 cache write 1h, 25 output
    tokens = dict(input_tokens=10_000, cache_read_tokens=4_000, cache_write_tokens=3_000, cache_write_1h_tokens=1_000)
    # 3,000 uncached × 5 + 4,000 × 0.5 + 2,000 × 6.25 + 1,000 × 10 + 500 × 25 = 52,000 per million
    assert costs([call("anthropic", "claude-opus-5", output_tokens=500, **tokens)]) == [Decimal("0.052")]


def test_cache_tokens_without_a_cache_price_pay_the_input_price_as_genai_prices_does() -> None:
    # gpt-4o has a cache-read price but none for cache writes
    tokens = dict(input_tokens=1000, cache_read_tokens=400, cache_write_tokens=100)
    # (500 × 2.5 + 400 × 1.25 + 100 × 2.5) / 1e6
    assert costs([call("openai", "gpt-4o", **tokens)]) == [Decimal("0.002")]


def test_long_context_tier_applies_to_all_tokens_only_strictly_above_the_threshold() -> None:
    # gemini-2.5-pro: 1.25 / 10 up to 200k input tokens, 2.5 / 15 above
    at_threshold = call("google", "gemini-2.5-pro", input_tokens=200_000, output_tokens=1000)
    above = call("google", "gemini-2.5-pro", input_tokens=200_001, output_tokens=1000)
    assert costs([at_threshold, above]) == [Decimal("0.26"), Decimal("0.5150025")]


def test_dated_price_change_applies_from_utc_midnight_of_its_day() -> None:
    # claude-sonnet-4-6 lost its long-context tier on 2026-03-13: 6 + 22.5 before, 3 + 15 after
    before = call("anthropic", "claude-sonnet-4-6", datetime(2026, 3, 12, 23, 59, 59, 999999, tzinfo=UTC))
    after = call("anthropic", "claude-sonnet-4-6", datetime(2026, 3, 13, 0, 0, tzinfo=UTC))
    tokens = dict(input_tokens=MTOK, output_tokens=MTOK)
    assert costs([before | tokens, after | tokens]) == [Decimal("28.5"), Decimal("18")]


def test_time_of_day_price_follows_the_utc_clock() -> None:
    # deepseek-chat: standard price, and off-peak half price from 16:30 to 00:30 UTC
    peak = call("deepseek", "deepseek-chat", datetime(2026, 6, 1, 3, 0, tzinfo=UTC))
    off_peak = call("deepseek", "deepseek-chat", datetime(2026, 6, 1, 18, 0, tzinfo=UTC))
    tokens = dict(input_tokens=MTOK, output_tokens=MTOK)
    assert costs([peak | tokens, off_peak | tokens]) == [Decimal("1.37"), Decimal("0.685")]


def test_batch_tier_has_its_own_price_once_the_catalog_has_one_and_unknown_tiers_pay_standard() -> None:
    tokens = dict(input_tokens=MTOK, output_tokens=MTOK)
    november, october = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC)
    calls = [
        call("openai", "gpt-4o", november, service_tier="batch", **tokens),
        call("openai", "gpt-4o", october, service_tier="batch", **tokens),
        call("openai", "gpt-4o", november, service_tier="scale", **tokens),
        call("openai", "gpt-4o", november, **tokens),
    ]
    assert costs(calls) == [Decimal("6.25"), Decimal("12.5"), Decimal("12.5"), Decimal("12.5")]


def test_example_overrides_price_self_hosted_llama_at_zero() -> None:
    calls = [call("self-hosted", "llama-3.1-70b", input_tokens=50_000, output_tokens=2_000)]
    assert priced(calls, load_price_overrides(EXAMPLE_OVERRIDES)) == [(Decimal(0), None, "override:self-hosted-llama")]


def test_explicit_price_override_wins_over_the_catalog_for_every_tier_from_its_date() -> None:
    negotiated = PriceOverride(
        name="negotiated-4o",
        provider="openai",
        model="gpt-4o*",
        input_mtok=Decimal(2),
        output_mtok=Decimal(8),
        valid_from=date(2026, 5, 1),
    )
    tokens = dict(input_tokens=MTOK, output_tokens=MTOK)
    calls = [
        call("openai", "gpt-4o", MAY, **tokens),
        call("openai", "gpt-4o", MAY, service_tier="priority", **tokens),
        call("openai", "gpt-4o", datetime(2026, 4, 30, 23, 59, tzinfo=UTC), **tokens),
    ]
    assert priced(calls, PriceOverrides(prices=[negotiated])) == [
        (Decimal(10), "gpt-4o", "override:negotiated-4o"),
        (Decimal(10), "gpt-4o", "override:negotiated-4o"),
        (Decimal("12.5"), "gpt-4o", CATALOG_SOURCE),
    ]


def test_web_searches_pay_an_overrides_price_per_thousand_and_a_call_without_usage_is_not_free() -> None:
    searching = PriceOverride(
        name="haiku-with-search",
        provider="anthropic",
        model="claude-3-5-haiku*",
        input_mtok=Decimal("0.8"),
        output_mtok=Decimal(4),
        web_searches_kcount=Decimal(10),
    )
    calls = [
        call("anthropic", "claude-3-5-haiku-20241022", input_tokens=1000, output_tokens=100, web_search_requests=3),
        call("anthropic", "claude-3-5-haiku-20241022", usage_flag="usage_missing"),
    ]
    assert priced(calls, PriceOverrides(prices=[searching])) == [
        # 1000 × 0.8 + 100 × 4 per million, and 3 searches at $10 per thousand
        (Decimal("0.0312000000"), "claude-3-5-haiku-latest", "override:haiku-with-search"),
        (None, "claude-3-5-haiku-latest", "usage missing: not priced"),
    ]


def test_discount_takes_its_percentage_off_catalog_prices_while_in_effect() -> None:
    commit = Discount(name="anthropic-commit", provider="anthropic", percent=Decimal("12.5"), valid_from=MAY.date())
    tokens = dict(input_tokens=MTOK, output_tokens=MTOK)  # opus 5: 5 + 25 list
    calls = [
        call("anthropic", "claude-opus-5", MAY, **tokens),
        call("anthropic", "claude-opus-5", datetime(2026, 5, 19, tzinfo=UTC), **tokens),
    ]
    assert priced(calls, PriceOverrides(discounts=[commit])) == [
        (Decimal("26.25"), "claude-opus-5", f"{CATALOG_SOURCE}; discount:anthropic-commit"),
        (Decimal(30), "claude-opus-5", CATALOG_SOURCE),
    ]


def test_alias_prices_a_bedrock_inference_profile_as_its_foundation_model() -> None:
    profile = Alias(
        name="support-bot-profile",
        provider="aws",
        model=ARN,
        price_as=ModelRef(provider="aws", model="anthropic.claude-3-5-sonnet-20240620-v1:0"),
    )
    calls = [
        call("aws", ARN, input_tokens=1000, output_tokens=100),
        call("aws", "anthropic.claude-3-5-sonnet-20240620-v1:0", input_tokens=1000, output_tokens=100),
    ]
    model = "regional.anthropic.claude-3-5-sonnet-20240620-v1:0"
    assert priced(calls, PriceOverrides(aliases=[profile])) == [
        (Decimal("0.0045"), model, f"{CATALOG_SOURCE}; alias:support-bot-profile"),
        (Decimal("0.0045"), model, CATALOG_SOURCE),
    ]


def test_unknown_models_stay_unpriced_and_are_listed_not_guessed() -> None:
    calls = [
        call("openai", "gpt-99", input_tokens=100, output_tokens=10),
        call("openai", "gpt-99", input_tokens=200, output_tokens=20),
        call("acme-gpu", "llama-3.1-70b", input_tokens=5, output_tokens=1),
        call("openai", None, input_tokens=7, output_tokens=0),
    ]
    con = connect()
    load_usage_day(con, calls)
    price_usage(con, load_price_overrides(EXAMPLE_OVERRIDES))
    assert (
        con.execute("select list_cost, catalog_model, price_source from priced_day").fetchall()
        == [(None, None, None)] * 4
    )
    assert con.execute("select * from unpriced_models order by provider, model").fetchall() == [
        ("acme-gpu", "llama-3.1-70b", 1, 5, 1),
        ("openai", "gpt-99", 2, 300, 30),
        ("openai", None, 1, 7, 0),
    ]


def test_vector_queries_cost_zero_and_token_free_calls_cost_zero_when_the_model_is_known() -> None:
    calls = [
        call("openai", "gpt-4o", input_tokens=0, output_tokens=0),
        call("openai", "gpt-4o") | {"operation": "vector_query", "input_tokens": 12},
        call("pinecone", None) | {"operation": "vector_query", "input_tokens": 0, "output_tokens": 0},
        call("openai", "gpt-99", input_tokens=0, output_tokens=0),
    ]
    assert costs(calls) == [Decimal(0), Decimal(0), Decimal(0), None]


def test_every_usage_row_is_priced_exactly_once() -> None:
    # duplicates, a tiered model (two candidate rows), tiers, time-of-day windows and unknown models
    calls = [
        call("google", "gemini-2.5-pro", input_tokens=300_000, output_tokens=10),
        call("google", "gemini-2.5-pro", input_tokens=300_000, output_tokens=10),
        call("openai", "gpt-4o", service_tier="batch", input_tokens=10, output_tokens=1),
        call("deepseek", "deepseek-chat", datetime(2026, 6, 1, 0, 30, tzinfo=UTC), input_tokens=1),
        call("openai", "gpt-99", input_tokens=1),
    ] * 3
    con = connect()
    load_usage_day(con, calls)
    price_usage(con, PriceOverrides())
    rows = con.execute("select count(*), count(distinct x_SourceRow) from priced_day").fetchall()
    assert rows == [(15, 15)]
    assert con.execute("select count(*) from priced_day where list_cost is null").fetchall() == [(3,)]


def test_bad_overrides_file_names_the_file_the_line_and_what_was_expected(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(
        "prices:\n"
        "  - name: a\n"
        "    provider: openai\n"
        "    model: gpt-4o\n"
        "    input_mtok: cheap\n"
        "discounts:\n"
        "  - name: b\n"
        "    provider: openai\n"
        "    percent: 10\n"
        "    region: eu\n"
    )
    with pytest.raises(ConfigError) as error:
        load_price_overrides(path)
    assert f"{path}:5: prices.0.input_mtok: Input should be a valid decimal" in str(error.value)
    assert f"{path}:10: discounts.0.region: Extra inputs are not permitted" in str(error.value)


def test_a_vendor_daily_bucket_is_never_priced_at_a_long_context_tier_by_its_total() -> None:
    one_call = call("google", "gemini-2.5-pro", input_tokens=300_000, output_tokens=0)
    bucket = one_call | {"operation": "chat:bucket"}
    grouped = one_call | {"operation": "chat:bucket:200k-1M"}
    base = call("google", "gemini-2.5-pro", input_tokens=100_000, output_tokens=0)
    single, daily, long_context, small = costs([one_call, bucket, grouped, base])
    assert daily == small * 3  # base tier, linear in tokens
    assert single == long_context > daily


def test_priced_calls_keep_the_order_of_usage_day_whatever_price_box_they_meet() -> None:
    # tiers, long-context thresholds, a dated tier price and time-of-day windows, unknown models, out of row order
    calls = [
        call("deepseek", "deepseek-chat", datetime(2026, 6, 1, 17, 30, tzinfo=UTC), input_tokens=10),
        call("google", "gemini-2.5-pro", input_tokens=300_000, output_tokens=10),
        call("openai", "gpt-99", input_tokens=1),
        call("openai", "gpt-4o", datetime(2026, 11, 2, tzinfo=UTC), service_tier="batch", input_tokens=10),
        call("deepseek", "deepseek-chat", datetime(2026, 6, 1, 0, 30, tzinfo=UTC), input_tokens=10),
        call("google", "gemini-2.5-pro", input_tokens=100, output_tokens=10),
        call("openai", "gpt-4o", service_tier="batch", input_tokens=10),
    ] * 300
    con = connect()
    con.execute("set preserve_insertion_order = true")
    load_usage_day(con, calls)
    con.execute("create or replace view usage_day as select * from usage_rows order by x_SourceRow desc")
    price_usage(con, PriceOverrides())
    rows = con.execute("select x_SourceRow, list_cost from priced_day").fetchall()
    assert [row for row, _ in rows] == list(range(len(calls), 0, -1))
    by_row = dict(rows)
    assert [by_row[row] for row in range(1, 8)] == [by_row[row + 7 * 299] for row in range(1, 8)]
    assert by_row[1] != by_row[5]  # time of day
    assert by_row[2] > by_row[6] * 2  # long context
    assert by_row[3] is None
    assert by_row[4] < by_row[7]  # batch price only from its date
