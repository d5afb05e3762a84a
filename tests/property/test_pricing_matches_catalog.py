"""The SQL price of a call is what genai-prices charges for it, whatever its tokens, time and service tier."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from genai_prices import Usage, calc_price
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assets.pricing import PriceOverrides, price_usage
from assets.schemas import STAGED_USAGE_EVENTS
from assets.sql import connect

MODELS = [
    ("openai", "gpt-4o"),  # cache read only; batch, priority and fast variants from October 2026
    ("azure", "gpt-4o"),  # borrowed from openai: genai-prices ignores its variants
    ("anthropic", "claude-sonnet-4-6"),  # long-context tiers until a dated change on 2026-03-13
    ("anthropic", "claude-opus-5"),  # 1h cache writes, batch and fast variants
    ("google", "gemini-2.5-pro"),  # tiers, tiered batch variant
    ("deepseek", "deepseek-v4-flash"),  # dated prices and time-of-day windows
    ("aws", "anthropic.claude-3-5-sonnet-20240620-v1:0"),  # matched through the model's match clause
    ("perplexity", "sonar"),  # a price per request
]
TIERS = [None, "batch", "flex", "priority", "fast", "default"]
START = datetime(2025, 12, 1, tzinfo=UTC)
SPAN_US = int(timedelta(days=400).total_seconds() * 1_000_000)


def price_context(tier: str | None) -> dict[str, str] | None:
    if tier is None:
        return None
    return {"processing": tier} if tier == "batch" else {"service_tier": tier, "speed": tier}


@st.composite
def calls(draw: st.DrawFn) -> dict[str, Any]:
    provider, model = draw(st.sampled_from(MODELS))
    input_tokens = draw(
        st.one_of(st.integers(1, 2_000), st.integers(1, 1_500_000), st.sampled_from([200_000, 200_001]))
    )
    cache_read = draw(st.integers(0, input_tokens))
    cache_write = draw(st.integers(0, input_tokens - cache_read))
    return {
        "event_time": START + timedelta(microseconds=draw(st.integers(0, SPAN_US))),
        "provider": provider,
        "model": model,
        "operation": "chat",
        "service_tier": draw(st.sampled_from(TIERS)),
        "input_tokens": input_tokens,
        "cache_read_tokens": cache_read,
        "cache_write_tokens": cache_write,
        "cache_write_1h_tokens": draw(st.integers(0, cache_write)),
        "output_tokens": draw(st.integers(0, 200_000)),
        "request_count": 1,
    }


def catalog_price(call: dict[str, Any]) -> Decimal:
    usage = Usage(
        input_tokens=call["input_tokens"],
        cache_read_tokens=call["cache_read_tokens"],
        cache_write_tokens=call["cache_write_tokens"],
        cache_write_1h_tokens=call["cache_write_1h_tokens"],
        output_tokens=call["output_tokens"],
    )
    return calc_price(
        usage,
        call["model"],
        provider_id=call["provider"],
        genai_request_timestamp=call["event_time"],
        price_context=price_context(call["service_tier"]),
    ).total_price


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(calls(), min_size=1, max_size=25))
def test_sql_price_equals_genai_prices_calc_price(batch: list[dict[str, Any]]) -> None:
    con = connect()
    con.execute(f"create table usage_rows ({', '.join(f'{n} {t}' for n, t in STAGED_USAGE_EVENTS)})")
    for row_number, call in enumerate(batch, start=1):
        row = {"x_Source": "app", "x_SourceFile": "calls.jsonl", "x_SourceRow": row_number, **call}
        con.execute(f"insert into usage_rows ({', '.join(row)}) values ({', '.join('$' + n for n in row)})", row)
    con.execute("create view usage_day as select * from usage_rows")

    price_usage(con, PriceOverrides())

    prices = con.execute("select list_cost from priced_day order by x_SourceRow").fetchall()
    assert len(prices) == len(batch)
    for (sql_price,), call in zip(prices, batch, strict=True):
        assert abs(sql_price - catalog_price(call)) <= Decimal("1e-9"), call
