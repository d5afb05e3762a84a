"""OpenAI and Anthropic admin APIs over real HTTP on 127.0.0.1: a local server replays recorded pages in the
documented shapes (FORMATS-AI §2, §3) and records what it is asked; the fetched pages are read and cast like any
source (`stage`), then landed and staged for a day through the pipeline's own `land_day` / `stage_day`."""

from __future__ import annotations

import json
import socket
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

import assets.ingest
from assets.config import Source, load_settings
from assets.ingest import anthropic_admin, openai_admin
from assets.ingest.anthropic_admin import ANTHROPIC_COSTS, ANTHROPIC_USAGE
from assets.ingest.http_client import AdminApiError, Backoff
from assets.ingest.openai_admin import OPENAI_COSTS, OPENAI_USAGE
from assets.lake import Lake
from assets.raw import land_day
from assets.staging import stage_day
from tests.unit.test_ingest_readers import stage
from tests.unit.test_staging import staged

KEY = "sk-admin-Tst0123456789abcdefSECRET"
DAY = date(2026, 11, 1)
START = datetime(2026, 11, 1, tzinfo=UTC)
START_TS, END_TS = "1793491200", "1793577600"

# Recorded pages, as the APIs write them: indented, numbers with long tails, nulls for fields not grouped by.
OPENAI_COSTS_1 = """{
  "object": "page",
  "has_more": true,
  "next_page": "page_AAAAAGdGxdEiJdKOAAAAAGcqsYA=",
  "data": [
    {
      "object": "bucket",
      "start_time": 1793491200,
      "end_time": 1793577600,
      "results": [
        {"object": "organization.costs.result", "amount": {"value": 0.8958740000000000, "currency": "usd"},
         "line_item": "gpt-4o-2024-08-06, input", "project_id": "proj_abc", "api_key_id": "key_123",
         "quantity": 358.3496, "quantity_unit": "1000_tokens"},
        {"object": "organization.costs.result", "amount": {"value": 98765432.123456789, "currency": "usd"},
         "line_item": "gpt-4o-2024-08-06, output", "project_id": "proj_abc", "api_key_id": "key_123",
         "quantity": null, "quantity_unit": null},
        {"object": "organization.costs.result", "amount": {"value": 0.06, "currency": "usd"},
         "line_item": "web search tool calls", "project_id": null, "api_key_id": null,
         "quantity": null, "quantity_unit": null}
      ]
    }
  ]
}
"""
OPENAI_COSTS_2 = """{
  "object": "page",
  "has_more": false,
  "next_page": null,
  "data": [
    {
      "object": "bucket",
      "start_time": 1793491200,
      "end_time": 1793577600,
      "results": [
        {"object": "organization.costs.result", "amount": {"value": "0.0100000000000000", "currency": "usd"},
         "line_item": "text-embedding-3-small, input", "project_id": "proj_def", "api_key_id": "key_456",
         "quantity": 500000, "quantity_unit": "tokens", "api_source": "responses"}
      ]
    }
  ]
}
"""
OPENAI_COMPLETIONS = """{"object": "page", "has_more": false, "next_page": null, "data": [
  {"object": "bucket", "start_time": 1793491200, "end_time": 1793577600, "results": [
    {"object": "organization.usage.completions.result", "input_tokens": 1000, "input_cached_tokens": 400,
     "input_cache_write_tokens": 100, "input_uncached_tokens": 500, "output_tokens": 500, "num_model_requests": 5,
     "project_id": "proj_abc", "user_id": null, "api_key_id": "key_123", "model": "gpt-4o-2024-08-06",
     "batch": false, "service_tier": "default"},
    {"object": "organization.usage.completions.result", "input_tokens": 2000000, "input_cached_tokens": 0,
     "output_tokens": 30000, "input_audio_tokens": 0, "output_audio_tokens": 0, "num_model_requests": 40,
     "project_id": "proj_abc", "user_id": null, "api_key_id": "key_123", "model": "gpt-4o-2024-08-06",
     "batch": true, "service_tier": null},
    {"object": "organization.usage.completions.result", "input_tokens": 10, "input_cached_tokens": 0,
     "output_tokens": 2, "num_model_requests": 1, "project_id": null, "user_id": null, "api_key_id": null,
     "model": null, "batch": null, "service_tier": null}
  ]}
]}"""
OPENAI_EMBEDDINGS = """{"object": "page", "has_more": false, "next_page": null, "data": [
  {"object": "bucket", "start_time": 1793491200, "end_time": 1793577600, "results": []}
]}"""
OPENAI_EMBEDDINGS_FULL = """{"object": "page", "has_more": false, "next_page": null, "data": [
  {"object": "bucket", "start_time": 1793491200, "end_time": 1793577600, "results": [
    {"object": "organization.usage.embeddings.result", "input_tokens": 16000, "num_model_requests": 8,
     "project_id": "proj_def", "user_id": null, "api_key_id": "key_456", "model": "text-embedding-3-small"}
  ]}
]}"""
ANTHROPIC_COSTS_PAGE = """{"has_more": false, "next_page": null, "data": [
  {"starting_at": "2026-11-01T00:00:00Z", "ending_at": "2026-11-02T00:00:00Z", "results": [
    {"amount": "123.78912", "currency": "USD", "cost_type": "tokens", "token_type": "uncached_input_tokens",
     "description": "Claude Opus 5 Usage - Input Tokens", "model": "claude-opus-5", "service_tier": "standard",
     "context_window": "0-200k", "inference_geo": "global", "workspace_id": "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ"},
    {"amount": "0.00123456", "currency": "USD", "cost_type": "tokens",
     "token_type": "cache_creation.ephemeral_1h_input_tokens", "description": "Claude Opus 5 Usage - 1h Cache Write",
     "model": "claude-opus-5", "service_tier": "batch", "context_window": "200k-1M", "inference_geo": null,
     "workspace_id": null},
    {"amount": 1000, "currency": "USD", "cost_type": "web_search", "token_type": null,
     "description": "Web Search", "model": null, "service_tier": null, "context_window": null,
     "inference_geo": null, "workspace_id": "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ"}
  ]}
]}"""
ANTHROPIC_USAGE_1 = """{"has_more": true, "next_page": "page_MjAyNS0wNS0xNFQwMDowMDowMFo=", "data": [
  {"starting_at": "2026-11-01T00:00:00Z", "ending_at": "2026-11-02T00:00:00Z", "results": [
    {"model": "claude-opus-5", "workspace_id": "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ", "api_key_id": "apikey_01Rj2N",
     "service_tier": "standard", "context_window": "0-200k", "inference_geo": "global",
     "uncached_input_tokens": 1500, "cache_read_input_tokens": 200,
     "cache_creation": {"ephemeral_5m_input_tokens": 500, "ephemeral_1h_input_tokens": 1000},
     "output_tokens": 500, "server_tool_use": {"web_search_requests": 10}}
  ]}
]}"""
ANTHROPIC_USAGE_2 = """{"has_more": false, "next_page": null, "data": [
  {"starting_at": "2026-11-01T00:00:00Z", "ending_at": "2026-11-02T00:00:00Z", "results": [
    {"model": "claude-opus-5", "workspace_id": null, "api_key_id": null, "service_tier": "batch",
     "context_window": "200k-1M", "uncached_input_tokens": 250000, "cache_read_input_tokens": 0,
     "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0}, "output_tokens": 900}
  ]},
  {"starting_at": "2026-11-02T00:00:00Z", "ending_at": "2026-11-03T00:00:00Z", "results": []}
]}"""


@dataclass
class Reply:
    status: int = 200
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]

    def params(self, name: str) -> list[str]:
        return [v for k, v in self.query if k == name]


class ReplayServer:
    """Replies to `GET <path>[?page=<token>]` with the next reply scripted for (path, token), recording requests."""

    def __init__(self) -> None:
        self.script: dict[tuple[str, str | None], list[Reply]] = {}
        self.requests: list[Request] = []
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = parse_qsl(url.query, keep_blank_values=True)
                replay.requests.append(Request(url.path, query, {k.lower(): v for k, v in self.headers.items()}))
                queue = replay.script.get((url.path, dict(query).get("page")), [])
                reply = queue.pop(0) if queue else Reply(404, '{"error": {"message": "nothing recorded"}}')
                body = reply.body.encode()
                self.send_response(reply.status)
                for name, value in {"Content-Type": "application/json", **reply.headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def on(self, path: str, page: str | None, *replies: Reply) -> None:
        self.script[(path, page)] = list(replies)


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    replay = ReplayServer()
    thread = threading.Thread(target=replay.httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield replay
    replay.httpd.shutdown()
    replay.httpd.server_close()
    thread.join()


@pytest.fixture(autouse=True)
def keys_and_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", KEY)
    for kind in (OPENAI_COSTS, OPENAI_USAGE, ANTHROPIC_COSTS, ANTHROPIC_USAGE):
        monkeypatch.setitem(assets.ingest.SOURCE_KINDS, kind.name, kind)


def source(kind: str, server: ReplayServer, **options: object) -> Source:
    return Source(name="vendor", kind=kind, path="api", options={"base_url": server.url, **options})


def by(rows: list[dict], *columns: str) -> list[tuple]:
    return [tuple(r[c] for c in columns) for r in rows]


def test_openai_costs_page_to_the_end_wait_out_a_429_and_keep_amounts_as_written(server, tmp_path):
    server.on(
        openai_admin.COSTS_PATH,
        None,
        Reply(429, '{"error": {"message": "Rate limit reached", "type": "requests"}}', {"Retry-After": "7"}),
        Reply(200, OPENAI_COSTS_1),
    )
    server.on(openai_admin.COSTS_PATH, "page_AAAAAGdGxdEiJdKOAAAAAGcqsYA=", Reply(200, OPENAI_COSTS_2))
    sleeps: list[float] = []

    fetched = openai_admin.fetch_costs(source("openai_costs", server), DAY, tmp_path, Backoff(sleep=sleeps.append))

    assert sleeps == [7.0]
    assert [(f.path.name, f.path.read_text(), f.modified_at) for f in fetched] == [
        ("costs-0001.json", OPENAI_COSTS_1, START),
        ("costs-0002.json", OPENAI_COSTS_2, START),
    ]
    assert fetched[1].origin.startswith(f"{server.url}/v1/organization/costs?start_time={START_TS}")
    asked, retried, second = server.requests
    assert {r.headers["authorization"] for r in server.requests} == {f"Bearer {KEY}"}
    assert retried.query == asked.query
    assert asked.query == [
        ("start_time", START_TS),
        ("end_time", END_TS),
        ("bucket_width", "1d"),
        ("group_by", "project_id"),
        ("group_by", "line_item"),
        ("group_by", "api_key_id"),
    ]
    assert second.query == [*asked.query, ("page", "page_AAAAAGdGxdEiJdKOAAAAAGcqsYA=")]

    lines, rejected = stage(OPENAI_COSTS, [f.path for f in fetched])
    assert rejected == []
    assert by(lines, "BilledCost", "x_Model", "SkuMeter", "SubAccountId", "x_ApiKeyId", "PricingQuantity") == [
        (Decimal("0.8958740000"), "gpt-4o-2024-08-06", "input", "proj_abc", "key_123", Decimal("358.3496")),
        (Decimal("98765432.1234567890"), "gpt-4o-2024-08-06", "output", "proj_abc", "key_123", None),
        (Decimal("0.06"), None, "web search tool calls", None, None, None),
        (Decimal("0.01"), "text-embedding-3-small", "input", "proj_def", "key_456", Decimal("500000")),
    ]
    assert [r["EffectiveCost"] for r in lines] == [r["BilledCost"] for r in lines]
    assert sum(r["BilledCost"] for r in lines) == Decimal("98765433.0893307890")
    assert [r["PricingUnit"] for r in lines] == ["1000 Tokens", None, None, "Tokens"]
    first = lines[0]
    assert (first["ChargePeriodStart"], first["ChargePeriodEnd"]) == (START, datetime(2026, 11, 2, tzinfo=UTC))
    assert (first["BillingCurrency"], first["ChargeCategory"], first["x_Provider"], first["ServiceName"]) == (
        "USD",
        "Usage",
        "openai",
        "OpenAI API",
    )
    assert (first["ServiceProviderName"], first["InvoiceIssuerName"], first["ChargeDescription"]) == (
        "OpenAI",
        "OpenAI",
        "gpt-4o-2024-08-06, input",
    )


def test_openai_usage_retries_a_500_groups_by_endpoint_and_keeps_input_tokens_as_the_total(server, tmp_path):
    completions, embeddings = (openai_admin.USAGE_PATH.format(endpoint=e) for e in ("completions", "embeddings"))
    server.on(completions, None, Reply(500, '{"error": {"message": "internal"}}'), Reply(200, OPENAI_COMPLETIONS))
    server.on(embeddings, None, Reply(200, OPENAI_EMBEDDINGS))
    sleeps: list[float] = []

    fetched = openai_admin.fetch_usage(
        source("openai_usage", server), DAY, tmp_path, Backoff(sleep=sleeps.append, jitter=lambda: 0.5)
    )

    assert sleeps == [0.5]
    assert [f.path.name for f in fetched] == ["completions-0001.json", "embeddings-0001.json"]
    assert [(r.path, r.params("group_by")) for r in server.requests] == [
        (completions, ["project_id", "api_key_id", "model", "batch", "service_tier"]),
        (completions, ["project_id", "api_key_id", "model", "batch", "service_tier"]),
        (embeddings, ["project_id", "api_key_id", "model"]),
    ]

    calls, rejected = stage(OPENAI_USAGE, [f.path for f in fetched])
    assert rejected == []
    columns = ("model", "operation", "service_tier", "input_tokens", "cache_read_tokens", "cache_write_tokens")
    assert by(calls, *columns, "output_tokens", "request_count", "api_key_id") == [
        ("gpt-4o-2024-08-06", "chat:bucket", "default", 1000, 400, 100, 500, 5, "key_123"),
        ("gpt-4o-2024-08-06", "chat:bucket", "batch", 2000000, 0, 0, 30000, 40, "key_123"),
        (None, "chat:bucket", None, 10, 0, 0, 2, 1, None),
    ]
    assert {(r["event_time"], r["provider"], r["team"]) for r in calls} == {(START, "openai", None)}


def test_openai_embeddings_rows_are_embeddings_buckets(server, tmp_path):
    path = openai_admin.USAGE_PATH.format(endpoint="embeddings")
    server.on(path, None, Reply(200, OPENAI_EMBEDDINGS_FULL))

    fetched = openai_admin.fetch_usage(source("openai_usage", server, endpoints=["embeddings"]), DAY, tmp_path)

    calls, _ = stage(OPENAI_USAGE, [f.path for f in fetched])
    assert by(calls, "model", "operation", "input_tokens", "output_tokens", "request_count") == [
        ("text-embedding-3-small", "embeddings:bucket", 16000, None, 8)
    ]


def test_anthropic_costs_use_bracketed_arrays_and_turn_cents_into_dollars_exactly(server, tmp_path):
    server.on(anthropic_admin.COST_PATH, None, Reply(200, ANTHROPIC_COSTS_PAGE))

    fetched = anthropic_admin.fetch_costs(source("anthropic_costs", server), DAY, tmp_path)

    (request,) = server.requests
    assert (request.headers["x-api-key"], request.headers["anthropic-version"]) == (KEY, "2023-06-01")
    assert "authorization" not in request.headers
    assert request.query == [
        ("starting_at", "2026-11-01T00:00:00Z"),
        ("ending_at", "2026-11-02T00:00:00Z"),
        ("bucket_width", "1d"),
        ("group_by[]", "workspace_id"),
        ("group_by[]", "description"),
    ]
    assert [f.path.name for f in fetched] == ["cost_report-0001.json"]

    lines, rejected = stage(ANTHROPIC_COSTS, [f.path for f in fetched])
    assert rejected == []
    assert by(lines, "BilledCost", "SubAccountId", "SkuMeter", "x_Model", "Tags") == [
        (
            Decimal("1.2378912000"),
            "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ",
            "uncached_input_tokens",
            "claude-opus-5",
            {"x_ServiceTier": "standard", "x_ContextWindow": "0-200k", "x_InferenceGeo": "global"},
        ),
        (
            Decimal("0.0000123456"),
            "default",
            "cache_creation.ephemeral_1h_input_tokens",
            "claude-opus-5",
            {"x_ServiceTier": "batch", "x_ContextWindow": "200k-1M"},
        ),
        (Decimal("10.0000000000"), "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ", "web_search", None, None),
    ]
    assert sum(r["EffectiveCost"] for r in lines) == Decimal("11.2379035456")
    assert {(r["BillingCurrency"], r["x_Provider"], r["x_ApiKeyId"], r["ServiceName"]) for r in lines} == {
        ("USD", "anthropic", None, "Claude API")
    }
    assert lines[0]["ChargeDescription"] == "Claude Opus 5 Usage - Input Tokens"


def test_anthropic_usage_pages_sum_disjoint_input_parts_and_skip_empty_buckets(server, tmp_path):
    server.on(anthropic_admin.USAGE_PATH, None, Reply(200, ANTHROPIC_USAGE_1))
    server.on(
        anthropic_admin.USAGE_PATH,
        "page_MjAyNS0wNS0xNFQwMDowMDowMFo=",
        Reply(529, '{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}'),
        Reply(200, ANTHROPIC_USAGE_2),
    )

    sleeps: list[float] = []

    fetched = anthropic_admin.fetch_usage(
        source("anthropic_usage", server), DAY, tmp_path, Backoff(sleep=sleeps.append, jitter=lambda: 0.25)
    )

    assert sleeps == [0.25]
    token = "page_MjAyNS0wNS0xNFQwMDowMDowMFo="
    assert [r.params("page") for r in server.requests] == [[], [token], [token]]
    assert server.requests[0].params("group_by[]") == [
        "api_key_id",
        "workspace_id",
        "model",
        "service_tier",
        "context_window",
    ]
    calls, rejected = stage(ANTHROPIC_USAGE, [f.path for f in fetched])
    assert rejected == []
    columns = ("operation", "service_tier", "input_tokens", "cache_read_tokens", "cache_write_tokens")
    assert by(calls, *columns, "cache_write_1h_tokens", "output_tokens", "request_count", "api_key_id") == [
        ("chat:bucket:0-200k", "standard", 3200, 200, 1500, 1000, 500, None, "apikey_01Rj2N"),
        ("chat:bucket:200k-1M", "batch", 250000, 0, 0, 0, 900, None, None),
    ]
    assert {(r["event_time"], r["provider"], r["model"]) for r in calls} == {(START, "anthropic", "claude-opus-5")}


@pytest.mark.parametrize(
    ("fetch", "kind"), [(openai_admin.fetch_costs, "openai_costs"), (anthropic_admin.fetch_usage, "anthropic_usage")]
)
def test_a_401_fails_at_once_naming_endpoint_and_status_but_never_the_key(server, tmp_path, fetch, kind):
    path = openai_admin.COSTS_PATH if kind == "openai_costs" else anthropic_admin.USAGE_PATH
    echo = {"error": {"message": f"Incorrect API key provided: {KEY}. Or {KEY[:8]}****{KEY[-4:]}", "type": "auth"}}
    server.on(path, None, Reply(401, json.dumps(echo)))

    with pytest.raises(AdminApiError) as raised:
        fetch(source(kind, server), DAY, tmp_path, Backoff(sleep=pytest.fail))

    message = str(raised.value)
    assert f"GET {server.url}{path}?" in message
    assert "HTTP 401 Unauthorized" in message
    assert "Incorrect API key provided" in message
    everything = "".join(traceback.format_exception(raised.value))
    assert KEY not in everything and KEY[-8:] not in everything and KEY[:12] not in everything
    assert len(server.requests) == 1


def test_server_errors_are_retried_a_bounded_number_of_times_with_capped_exponential_backoff(server, tmp_path):
    server.on(openai_admin.COSTS_PATH, None, *[Reply(503, "upstream down")] * 6)
    sleeps: list[float] = []

    with pytest.raises(AdminApiError, match=r"HTTP 503 Service Unavailable \(gave up after 6 attempts\)"):
        openai_admin.fetch_costs(
            source("openai_costs", server, max_attempts=6),
            DAY,
            tmp_path,
            Backoff(base=1, cap=10, sleep=sleeps.append, jitter=lambda: 1.0),
        )

    assert sleeps == [1, 2, 4, 8, 10]
    assert len(server.requests) == 6


def test_a_host_that_does_not_answer_is_retried_then_named(tmp_path):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{free.getsockname()[1]}"
    sleeps: list[float] = []
    options = {"base_url": url, "max_attempts": 3}

    with pytest.raises(AdminApiError, match=r"GET http://127\.0\.0\.1:\d+/v1/organizations/cost_report\?.*no response"):
        anthropic_admin.fetch_costs(
            Source(name="vendor", kind="anthropic_costs", path="api", options=options),
            DAY,
            tmp_path,
            Backoff(sleep=sleeps.append, jitter=lambda: 1.0),
        )
    assert sleeps == [1, 2]


def test_a_missing_key_or_a_bad_option_fails_before_any_request(server, tmp_path, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_ADMIN_KEY")
    with pytest.raises(AdminApiError, match="environment variable ANTHROPIC_ADMIN_KEY is not set"):
        anthropic_admin.fetch_costs(source("anthropic_costs", server), DAY, tmp_path)
    # a bad option is refused when the config is loaded, before any fetch can be attempted
    with pytest.raises(ValueError, match=r"options\.endpoints\.0\n  Input should be 'completions'"):
        source("openai_usage", server, endpoints=["images"])
    with pytest.raises(ValueError, match=r"options\.api_key\n  not an option of kind openai_usage; it reads api"):
        source("openai_usage", server, api_key=KEY)
    assert server.requests == []


def test_a_page_that_is_not_the_documented_envelope_stops_the_fetch(server, tmp_path):
    server.on(openai_admin.COSTS_PATH, None, Reply(200, '{"data": [{"start_time": 1, "results": "none"}]}'))
    with pytest.raises(AdminApiError, match=r"data\[0\] is not a bucket with a list of result objects"):
        openai_admin.fetch_costs(source("openai_costs", server), DAY, tmp_path)


def test_broken_pages_and_values_are_quarantined_with_file_row_and_column(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"data": [')
    bad_values = tmp_path / "bad.json"
    no_currency = ANTHROPIC_COSTS_PAGE.replace('"USD", "cost_type": "web', 'null, "cost_type": "web')
    bad_values.write_text(no_currency.replace('"123.78912"', '"12,5"'))
    lines, rejected = stage(ANTHROPIC_COSTS, [broken, bad_values])
    assert len(lines) == 1
    assert [(Path(r["file"]).name, r["row"], r["column"], r["reason"]) for r in rejected] == [
        ("bad.json", 1, "BilledCost", "not a valid decimal(38,10)"),
        ("bad.json", 3, "BillingCurrency", "required value missing"),
        ("broken.json", 1, None, "malformed JSON"),
    ]

    usage = tmp_path / "usage.json"
    usage.write_text(ANTHROPIC_USAGE_1.replace('"cache_read_input_tokens": 200', '"cache_read_input_tokens": 2.5'))
    calls, rejected = stage(ANTHROPIC_USAGE, [usage])
    assert calls == []
    assert [(r["row"], r["column"], r["reason"]) for r in rejected] == [(1, "input_tokens", "not a valid bigint")]


def test_pages_land_in_raw_and_stage_for_the_day(server, tmp_path):
    server.on(openai_admin.COSTS_PATH, None, Reply(200, OPENAI_COSTS_1))
    server.on(openai_admin.COSTS_PATH, "page_AAAAAGdGxdEiJdKOAAAAAGcqsYA=", Reply(200, OPENAI_COSTS_2))
    (tmp_path / "allocation.yaml").write_text("rules: []\n")
    (tmp_path / "apportion.yaml").write_text(
        "allocation: allocation.yaml\nprices: null\nsources:\n"
        f"  - {{name: openai_bill, kind: openai_costs, path: api, options: {{base_url: '{server.url}'}}}}\n"
    )
    settings = load_settings(tmp_path / "apportion.yaml")

    assert land_day(settings, DAY) == {"openai_bill": 2}
    raw = sorted(Lake(settings.app.lake).raw_dir("openai_bill").iterdir())
    assert sorted(p.read_text() for p in raw) == sorted([OPENAI_COSTS_1, OPENAI_COSTS_2])
    stage_day(settings, DAY)

    lines = staged(settings, "cost_lines", DAY)
    assert sum(r["BilledCost"] for r in lines) == Decimal("98765433.0893307890")
    assert {r["x_Source"] for r in lines} == {"openai_bill"}
    assert staged(settings, "quarantine", DAY) == []
    log = staged(settings, "ingest_log", DAY)
    assert sorted((r["rows_read"], r["rows_valid"], r["balanced"]) for r in log) == [(1, 1, True), (3, 3, True)]
