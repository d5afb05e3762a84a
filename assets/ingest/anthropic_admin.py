"""Anthropic Admin API: the cost report (`anthropic_costs` → cost_lines) and the Messages usage report
(`anthropic_usage` → usage_events).

With `{date}` in its `path`, a source reads the day's pages saved from the API instead (`http_client.saved_pages`).
Otherwise a night's fetch asks for the day's one daily bucket, `starting_at`/`ending_at` in RFC 3339 UTC, pages to the
end and lands every page as it came (`x-api-key: $ANTHROPIC_ADMIN_KEY`, `anthropic-version: 2023-06-01`; array
parameters take brackets: `group_by[]=workspace_id&group_by[]=description`). A record is one result of a bucket.

Vendor quirks handled here: the cost `amount` is a decimal string in **cents** (`"123.78912"` = $1.2378912), turned into
dollars exactly; `workspace_id` null is the default workspace; the usage report splits input into disjoint parts
(uncached, cache reads, 5-minute and 1-hour cache writes), summed here into apportion's total `input_tokens`; it has no
request count; `server_tool_use.web_search_requests` (billed per search) is `web_search_requests`. Priority Tier
costs never appear in the cost report.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

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
from assets.ingest.openai_admin import BUCKET_SUFFIX
from assets.ingest.readers import create_view, project, sql_string
from assets.ingest.usage_canonical import USAGE_EVENT_CHECKS
from assets.schemas import COST_LINES, USAGE_EVENTS

API_VERSION = "2023-06-01"
RFC3339 = "%Y-%m-%dT%H:%M:%SZ"
COST_PATH = "/v1/organizations/cost_report"
USAGE_PATH = "/v1/organizations/usage_report/messages"
COST_GROUP_BY = ("workspace_id", "description")
USAGE_GROUP_BY = ("api_key_id", "workspace_id", "model", "service_tier", "context_window")

DEFAULT_WORKSPACE = "default"
"""`SubAccountId` of cost in the default workspace, which the API reports as `workspace_id: null`; a literal rather
than null so that an owners file can map it (real workspace ids start with `wrkspc_`)."""

TAGS = {"x_ServiceTier": "service_tier", "x_ContextWindow": "context_window", "x_InferenceGeo": "inference_geo"}
"""Cost-line tags kept from structured result fields (`description` is for people; the fields are for code)."""

CACHE_WRITES = ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens")
"""Fields of a usage result's `cache_creation`: the 5-minute and 1-hour cache writes, disjoint."""

_BOUNDS = ("starting_at", "ending_at")
_EXACT_NUMBERS = ("amount",)
_COST_FIELDS = dict.fromkeys(
    ("amount", "currency", "cost_type", "token_type", "description", "model", "workspace_id", *TAGS.values()),
    "VARCHAR",
)
_USAGE_FIELDS = {
    **dict.fromkeys(
        (
            "model",
            "api_key_id",
            "service_tier",
            "context_window",
            "uncached_input_tokens",
            "cache_read_input_tokens",
            "output_tokens",
        ),
        "VARCHAR",
    ),
    "cache_creation": dict.fromkeys(CACHE_WRITES, "VARCHAR"),
    "server_tool_use": {"web_search_requests": "VARCHAR"},
}


class AnthropicOptions(ApiOptions):
    api_key_env: EnvName = "ANTHROPIC_ADMIN_KEY"
    base_url: BaseUrl = "https://api.anthropic.com"


def _auth(key: str) -> dict[str, str]:
    return {"x-api-key": key, "anthropic-version": API_VERSION}


def _fetch(
    source: Any, day: date, workdir: Path, backoff: Backoff | None, path: str, group_by: tuple[str, ...]
) -> list[Fetched]:
    name = path.rsplit("/", 1)[-1]
    if (saved := saved_pages(source, day, [name])) is not None:
        return saved
    options = parse_options(AnthropicOptions, source)
    client = open_client("Anthropic", options, source.name, _auth, backoff or Backoff())
    start, end = day_bounds(day)
    query = [
        ("starting_at", start.strftime(RFC3339)),
        ("ending_at", end.strftime(RFC3339)),
        ("bucket_width", "1d"),
        *(("group_by[]", g) for g in group_by),
    ]
    return fetch_pages(client, path, query, workdir, name, start)


def fetch_costs(source: Any, day: date, workdir: Path, backoff: Backoff | None = None) -> list[Fetched]:
    """Every page of the day's cost report grouped by workspace and description, as `cost_report-0001.json`, …"""
    return _fetch(source, day, workdir, backoff, COST_PATH, COST_GROUP_BY)


def fetch_usage(source: Any, day: date, workdir: Path, backoff: Backoff | None = None) -> list[Fetched]:
    """Every page of the day's Messages usage grouped by key, workspace, model, service tier and context window,
    as `messages-0001.json`, …"""
    return _fetch(source, day, workdir, backoff, USAGE_PATH, USAGE_GROUP_BY)


def whole_sum(parts: Mapping[str, str]) -> str:
    """SQL for the sum, as text, of token counts given as text (vendor field → expression); a missing part counts
    0 and all missing is null. A part that is not a whole number yields `<field>=<text>`, which the validator
    rejects for the target column, showing the vendor field at fault."""
    bad = " ".join(
        f"when not regexp_full_match(coalesce({expr}, '0'), '[0-9]+') then {sql_string(field + '=')} || {expr}"
        for field, expr in parts.items()
    )
    total = " + ".join(f"coalesce(try_cast({expr} as hugeint), 0)" for expr in parts.values())
    return f"case when coalesce({', '.join(parts.values())}) is null then null {bad} else ({total})::varchar end"


def cents_to_dollars(expr: str) -> str:
    """SQL for a decimal string of cents as dollars, exactly (a shift of the point: up to 12 decimals of cents
    are the 10 of DECIMAL(38,10) dollars). Text that is not a number yields `amount=<text>` for the validator."""
    cents = f"try_cast({expr} as decimal(38, 12))"
    return f"coalesce(({cents} * 0.01)::varchar, 'amount=' || {expr})"


def _tags() -> str:
    entries = ", ".join(f"struct_pack(k := {sql_string(k)}, v := _r.{field})" for k, field in TAGS.items())
    tags = f"to_json(map_from_entries(list_filter([{entries}], lambda e: e.v is not null)))::varchar"
    return f"nullif({tags}, '{{}}')"


def _cost_select(path: Path) -> str:
    dollars = cents_to_dollars("_r.amount")
    exprs = {
        "BilledCost": dollars,
        "EffectiveCost": dollars,
        "BillingCurrency": "upper(_r.currency)",
        "SubAccountId": f"coalesce(_r.workspace_id, {sql_string(DEFAULT_WORKSPACE)})",
        "ChargePeriodStart": "_start",
        "ChargePeriodEnd": "_end",
        "ChargeCategory": "'Usage'",
        "ChargeDescription": "_r.description",
        "ChargeFrequency": "'Usage-Based'",
        "InvoiceIssuerName": "'Anthropic'",
        "ServiceProviderName": "'Anthropic'",
        "HostProviderName": "'Anthropic'",
        "ServiceCategory": "'AI and Machine Learning'",
        "ServiceSubcategory": "'Generative AI'",
        "ServiceName": "'Claude API'",
        "SkuMeter": "coalesce(_r.token_type, _r.cost_type)",
        "Tags": _tags(),
        "x_Provider": "'anthropic'",
        "x_Model": "_r.model",
    }
    return project(path, page_records(path, _BOUNDS, _COST_FIELDS, _EXACT_NUMBERS), COST_LINES, exprs, error="_error")


def _usage_select(path: Path) -> str:
    writes = {f"cache_creation.{k}": f"_r.cache_creation.{k}" for k in CACHE_WRITES}
    cache_1h = writes["cache_creation.ephemeral_1h_input_tokens"]
    exprs = {
        "event_time": "_start",
        "provider": "'anthropic'",
        "model": "_r.model",
        "operation": f"'chat' || {sql_string(BUCKET_SUFFIX)} || coalesce(':' || _r.context_window, '')",
        "service_tier": "_r.service_tier",
        "input_tokens": whole_sum(
            {
                "uncached_input_tokens": "_r.uncached_input_tokens",
                "cache_read_input_tokens": "_r.cache_read_input_tokens",
                **writes,
            }
        ),
        "cache_read_tokens": "_r.cache_read_input_tokens",
        "cache_write_tokens": whole_sum(writes),
        "cache_write_1h_tokens": cache_1h,
        "output_tokens": "_r.output_tokens",
        "web_search_requests": "_r.server_tool_use.web_search_requests",
        "api_key_id": "_r.api_key_id",
    }
    return project(path, page_records(path, _BOUNDS, _USAGE_FIELDS, ()), USAGE_EVENTS, exprs, error="_error")


def read_costs(con: duckdb.DuckDBPyConnection, files: list[Path], view: str, options: Mapping[str, Any]) -> None:
    """One cost line per result: cents as dollars, the day's bucket as the charge period, the workspace as the
    sub account (`default` for the default workspace), the token type (else the cost type) as `SkuMeter`,
    service tier, context window and inference geo as `x_` tags. The report has no API key: `x_ApiKeyId` is null."""
    create_view(con, view, COST_LINES, [_cost_select(path) for path in files])


def read_usage(con: duckdb.DuckDBPyConnection, files: list[Path], view: str, options: Mapping[str, Any]) -> None:
    """One usage row per result: a bucket's totals for a key × workspace × model × service tier × context window
    at the bucket's start, with operation `chat:bucket:<context window>` (the window says which context tier the
    tokens were billed at) and no request count. An empty bucket has no rows."""
    create_view(con, view, USAGE_EVENTS, [_usage_select(path) for path in files])


ANTHROPIC_COSTS = SourceKind(
    "anthropic_costs",
    "cost_lines",
    read_costs,
    FOCUS.checks,
    fetch=fetch_costs,
    options_model=AnthropicOptions,
    incomplete=unfinished_page_sets,
)
ANTHROPIC_USAGE = SourceKind(
    "anthropic_usage",
    "usage_events",
    read_usage,
    USAGE_EVENT_CHECKS,
    fetch=fetch_usage,
    options_model=AnthropicOptions,
    incomplete=unfinished_page_sets,
)
