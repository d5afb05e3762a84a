"""OpenAI Admin API: Costs (`openai_costs` → cost_lines) and Usage (`openai_usage` → usage_events).

With `{date}` in its `path`, a source reads the day's pages saved from the API instead (`http_client.saved_pages`).
Otherwise a night's fetch asks for the day's one daily bucket, `[00:00, 24:00)` UTC, pages to the end and lands every
page as it came (`GET /v1/organization/costs` or `/usage/<endpoint>`, `Authorization: Bearer $OPENAI_ADMIN_KEY`; array
parameters repeat: `group_by=project_id&group_by=line_item`). A record is one result of a bucket.

Vendor quirks handled here: `amount.value` is a JSON number with a long tail (`0.8958740000000000`), read as the text
written, never as a float; `currency` is lower case; `line_item` is `"<model>, <component>"` when it names a model, else
free text; Usage `input_tokens` already *includes* cached and cache-write tokens (apportion's own semantics), older
responses lack `input_cache_write_tokens` (0); ungrouped fields are `null`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import duckdb
from pydantic import Field

from assets.ingest.base import Fetched, SourceKind
from assets.ingest.focus import FOCUS
from assets.ingest.http_client import (
    ApiOptions,
    Backoff,
    BaseUrl,
    EnvName,
    day_bounds,
    fetch_pages,
    open_client,
    page_records,
    parse_options,
    saved_pages,
    unfinished_page_sets,
)
from assets.ingest.readers import create_view, project, sql_string
from assets.ingest.usage_canonical import USAGE_EVENT_CHECKS
from assets.schemas import COST_LINES, USAGE_EVENTS

COSTS_PATH = "/v1/organization/costs"
USAGE_PATH = "/v1/organization/usage/{endpoint}"
COST_GROUP_BY = ("project_id", "line_item", "api_key_id")

Endpoint = Literal["completions", "embeddings", "moderations"]
USAGE_GROUP_BY: dict[str, tuple[str, ...]] = {
    "completions": ("project_id", "api_key_id", "model", "batch", "service_tier"),
    "embeddings": ("project_id", "api_key_id", "model"),
    "moderations": ("project_id", "api_key_id", "model"),
}
"""What each token endpoint can be grouped by (only completions has `batch` and `service_tier`)."""

OPERATIONS = {"completions": "chat", "embeddings": "embeddings", "moderations": "moderation"}

BUCKET_SUFFIX = ":bucket"
"""Appended to `operation` on usage rows that are a bucket's totals, not one call (`chat:bucket`): priced as one
call, a day's tokens would reach long-context tiers no single call reached (FORMATS-AI §7.3), so pricing must not
choose a tier by the row's input tokens: the base tier, or the context window the vendor grouped by
(`chat:bucket:200k-1M`)."""

UNITS = {
    "tokens": "Tokens",
    "1000_tokens": "1000 Tokens",
    "duration_seconds": "Seconds",
    "duration_minutes": "Minutes",
    "duration_hours": "Hours",
    "gibibyte_hours": "GiB-Hours",
    "images": "Images",
    "characters": "Characters",
}
"""`quantity_unit` → FOCUS unit (`<qty> <plural unit>`); an unknown unit is kept as written."""

_BOUNDS = ("start_time", "end_time")
_EXACT_NUMBERS = ("value", "quantity")
_COST_FIELDS = {
    "amount": {"value": "VARCHAR", "currency": "VARCHAR"},
    "line_item": "VARCHAR",
    "project_id": "VARCHAR",
    "api_key_id": "VARCHAR",
    "quantity": "VARCHAR",
    "quantity_unit": "VARCHAR",
}
_USAGE_FIELDS = dict.fromkeys(
    (
        "object",
        "input_tokens",
        "input_cached_tokens",
        "input_cache_write_tokens",
        "output_tokens",
        "num_model_requests",
        "api_key_id",
        "model",
        "batch",
        "service_tier",
    ),
    "VARCHAR",
)


class OpenAiOptions(ApiOptions):
    api_key_env: EnvName = "OPENAI_ADMIN_KEY"
    base_url: BaseUrl = "https://api.openai.com"


class OpenAiUsageOptions(OpenAiOptions):
    endpoints: list[Endpoint] = Field(default=["completions", "embeddings"], min_length=1)


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _window(day: date) -> tuple[datetime, list[tuple[str, str]]]:
    """The day's start and the query of its one daily bucket, in unix seconds."""
    start, end = day_bounds(day)
    return start, [
        ("start_time", str(int(start.timestamp()))),
        ("end_time", str(int(end.timestamp()))),
        ("bucket_width", "1d"),
    ]


def fetch_costs(source: Any, day: date, workdir: Path, backoff: Backoff | None = None) -> list[Fetched]:
    """Every page of the day's costs grouped by project, line item and API key, as `costs-0001.json`, …; or the
    day's saved pages (`{date}` in the path)."""
    if (saved := saved_pages(source, day, ["costs"])) is not None:
        return saved
    options = parse_options(OpenAiOptions, source)
    client = open_client("OpenAI", options, source.name, _auth, backoff or Backoff())
    start, query = _window(day)
    query += [("group_by", g) for g in COST_GROUP_BY]
    return fetch_pages(client, COSTS_PATH, query, workdir, "costs", start)


def fetch_usage(source: Any, day: date, workdir: Path, backoff: Backoff | None = None) -> list[Fetched]:
    """Every page of the day's usage of each endpoint in `options.endpoints`, as `<endpoint>-0001.json`, …; or the
    day's saved pages (`{date}` in the path)."""
    options = parse_options(OpenAiUsageOptions, source)
    if (saved := saved_pages(source, day, list(dict.fromkeys(options.endpoints)))) is not None:
        return saved
    client = open_client("OpenAI", options, source.name, _auth, backoff or Backoff())
    start, window = _window(day)
    fetched: list[Fetched] = []
    for endpoint in dict.fromkeys(options.endpoints):
        query = window + [("group_by", g) for g in USAGE_GROUP_BY[endpoint]]
        fetched += fetch_pages(client, USAGE_PATH.format(endpoint=endpoint), query, workdir, endpoint, start)
    return fetched


def epoch_text(expr: str) -> str:
    """SQL for unix seconds as ISO 8601 UTC text; text that is not an integer is kept for the validator."""
    instant = f"try(make_timestamp(try_cast({expr} as bigint) * 1000000))"
    return f"coalesce(strftime({instant}, '%Y-%m-%dT%H:%M:%SZ'), {expr})"


def _case(expr: str, mapping: Mapping[str, str], default: str) -> str:
    whens = " ".join(f"when {sql_string(k)} then {sql_string(v)}" for k, v in mapping.items())
    return f"case {expr} {whens} else {default} end"


def _cost_select(path: Path) -> str:
    line = "_r.line_item"
    comma = f"strpos({line}, ',')"
    unit = _case("_r.quantity_unit", UNITS, "_r.quantity_unit")
    exprs = {
        "BilledCost": "_r.amount.value",
        "EffectiveCost": "_r.amount.value",
        "BillingCurrency": "upper(_r.amount.currency)",
        "SubAccountId": "_r.project_id",
        "ChargePeriodStart": epoch_text("_start"),
        "ChargePeriodEnd": epoch_text("_end"),
        "ChargeCategory": "'Usage'",
        "ChargeDescription": line,
        "ChargeFrequency": "'Usage-Based'",
        "InvoiceIssuerName": "'OpenAI'",
        "ServiceProviderName": "'OpenAI'",
        "HostProviderName": "'OpenAI'",
        "ServiceCategory": "'AI and Machine Learning'",
        "ServiceSubcategory": "'Generative AI'",
        "ServiceName": "'OpenAI API'",
        "SkuMeter": f"case when {comma} > 0 then trim(substr({line}, {comma} + 1)) else {line} end",
        "PricingQuantity": "_r.quantity",
        "PricingUnit": unit,
        "ConsumedQuantity": "_r.quantity",
        "ConsumedUnit": unit,
        "x_Provider": "'openai'",
        "x_Model": f"case when {comma} > 0 then trim(left({line}, {comma} - 1)) end",
        "x_ApiKeyId": "_r.api_key_id",
    }
    return project(path, page_records(path, _BOUNDS, _COST_FIELDS, _EXACT_NUMBERS), COST_LINES, exprs, error="_error")


def _usage_select(path: Path) -> str:
    endpoint = "split_part(_r.object, '.', 3)"
    exprs = {
        "event_time": epoch_text("_start"),
        "provider": "'openai'",
        "model": "_r.model",
        "operation": f"{_case(endpoint, OPERATIONS, endpoint)} || {sql_string(BUCKET_SUFFIX)}",
        "service_tier": "case when _r.batch = 'true' then 'batch' else _r.service_tier end",
        "input_tokens": "_r.input_tokens",
        "cache_read_tokens": "coalesce(_r.input_cached_tokens, '0')",
        "cache_write_tokens": "coalesce(_r.input_cache_write_tokens, '0')",
        "output_tokens": "_r.output_tokens",
        "request_count": "_r.num_model_requests",
        "api_key_id": "_r.api_key_id",
    }
    return project(path, page_records(path, _BOUNDS, _USAGE_FIELDS, ()), USAGE_EVENTS, exprs, error="_error")


def read_costs(con: duckdb.DuckDBPyConnection, files: list[Path], view: str, options: Mapping[str, Any]) -> None:
    """One cost line per result: amount as written, the day's bucket as the charge period, the project as the
    sub account, `line_item` split into model (`x_Model`) and component (`SkuMeter`)."""
    create_view(con, view, COST_LINES, [_cost_select(path) for path in files])


def read_usage(con: duckdb.DuckDBPyConnection, files: list[Path], view: str, options: Mapping[str, Any]) -> None:
    """One usage row per result: a bucket's totals for a project × key × model × batch × service tier, at the
    bucket's start, with operation `chat:bucket` (or `embeddings:bucket`, …) and `service_tier` `batch` for the
    Batch API. No team or feature: owner files map keys to teams downstream."""
    create_view(con, view, USAGE_EVENTS, [_usage_select(path) for path in files])


OPENAI_COSTS = SourceKind(
    "openai_costs",
    "cost_lines",
    read_costs,
    FOCUS.checks,
    fetch=fetch_costs,
    options_model=OpenAiOptions,
    incomplete=unfinished_page_sets,
)
OPENAI_USAGE = SourceKind(
    "openai_usage",
    "usage_events",
    read_usage,
    USAGE_EVENT_CHECKS,
    fetch=fetch_usage,
    options_model=OpenAiUsageOptions,
    incomplete=unfinished_page_sets,
)
