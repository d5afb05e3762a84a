"""The Cost Management Query API through azure-mgmt-costmanagement against recorded responses replayed by an HTTP
server on 127.0.0.1: paging by `nextLink`, throttling (429) with `Retry-After` or Cost Management's own header, a
fake token credential, pages landed unchanged and read with exact amounts."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.core.credentials import AccessToken, AccessTokenInfo

import assets.ingest
from assets.config import Source
from assets.ingest import azure_query
from assets.ingest.azure_query import AZURE_COST_QUERY, fetch_cost_query
from tests.unit.test_ingest_readers import stage

SUBSCRIPTION = "00000000-0000-0000-0000-0000000000aa"
QUERY_PATH = f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.CostManagement/query"
COLUMNS = [
    {"name": "PreTaxCost", "type": "Number"},
    {"name": "UsageDate", "type": "Number"},
    {"name": "ResourceId", "type": "String"},
    {"name": "MeterCategory", "type": "String"},
    {"name": "MeterSubcategory", "type": "String"},
    {"name": "Meter", "type": "String"},
    {"name": "ChargeType", "type": "String"},
    {"name": "PricingModel", "type": "String"},
    {"name": "TagKey", "type": "String"},
    {"name": "TagValue", "type": "String"},
    {"name": "Currency", "type": "String"},
]
VM = f"/subscriptions/{SUBSCRIPTION}/resourcegroups/ml/providers/microsoft.compute/virtualmachines/gpu-1"
OAI = f"/subscriptions/{SUBSCRIPTION}/resourcegroups/ai/providers/microsoft.cognitiveservices/accounts/oai"

PAGE_1_ROWS = f"""[
 [123456789.0123456789, 20231122, "{VM}", "Virtual Machines", "NCSv3 Series", "NC6s v3", "Usage", "OnDemand",
  "team", "search", "USD"],
 [3.1262500001, 20231122, "{OAI}", "Azure OpenAI", "", "gpt 4o 0513 Input global Tokens", "Usage", "OnDemand",
  "team", "support", "USD"]
]"""
PAGE_2_ROWS = f"""[
 [13.5, 20231122, "", "Virtual Machines", "NCSv3 Series", "NC6s v3", "UnusedReservation", "Reservation",
  "", "", "USD"],
 [0.0000000001, 20231122, "{VM}", "Bandwidth", "Inter-Region", "Intra Continent Data Transfer Out", "Usage",
  "OnDemand", "team", "search", "USD"]
]"""


def page(rows: str, next_link: str | None) -> bytes:
    """A query result as Cost Management writes it, its rows' JSON text (the API's numbers) kept as given."""
    head = {
        "id": f"subscriptions/{SUBSCRIPTION}/providers/Microsoft.CostManagement/query/3d8f",
        "name": "3d8f",
        "type": "Microsoft.CostManagement/query",
        "location": None,
        "sku": None,
        "eTag": None,
    }
    properties = json.dumps({"nextLink": next_link, "columns": COLUMNS})
    return (json.dumps(head)[:-1] + f', "properties": {properties[:-1]}, "rows": {rows}}}}}').encode()


@dataclass
class Recorded:
    """Responses to replay, per `$skiptoken` (None for the first page), in order; and what was asked."""

    replies: dict[str | None, list[tuple[int, dict[str, str], bytes]]]
    requests: list[dict[str, Any]] = field(default_factory=list)


class QueryApi(BaseHTTPRequestHandler):
    recorded: Recorded

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.recorded.requests.append(
            {"path": url.path, "query": query, "authorization": self.headers["Authorization"], "body": body}
        )
        queue = self.recorded.replies.get(query.get("$skiptoken")) if url.path == QUERY_PATH else None
        status, headers, payload = queue.pop(0) if queue else (404, {}, b'{"error": {"code": "NotFound"}}')
        self.send_response(status)
        for name, value in {**headers, "Content-Type": "application/json", "Content-Length": str(len(payload))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def query_api() -> Iterator[tuple[str, Recorded]]:
    recorded = Recorded(replies={})
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (QueryApi,), {"recorded": recorded}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", recorded
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class FakeCredential:
    """A token credential that hands out one fixed token and remembers the scopes asked for."""

    token = "fake-token-never-logged"

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        self.scopes.append(scopes)
        return AccessTokenInfo(self.token, int(time.time()) + 3600)


@pytest.fixture
def credential(monkeypatch: pytest.MonkeyPatch) -> FakeCredential:
    fake = FakeCredential()
    monkeypatch.setattr(azure_query, "credential_chain", lambda: fake)
    return fake


@pytest.fixture(autouse=True)
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kind in the registry, as `assets/ingest/__init__.py` will have it, so configs can name it."""
    monkeypatch.setitem(assets.ingest.SOURCE_KINDS, "azure_cost_query", AZURE_COST_QUERY)


def source(endpoint: str, **options: Any) -> Source:
    return Source(
        name="azure_api",
        kind="azure_cost_query",
        path=f"azure://subscriptions/{SUBSCRIPTION}",
        options={"endpoint": endpoint, "tags": ["team"], **options},
    )


def test_query_pages_follow_next_link_through_throttling_and_read_to_exact_totals(
    tmp_path: Path, query_api: tuple[str, Recorded], credential: FakeCredential, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    endpoint, recorded = query_api
    next_link = f"{endpoint}{QUERY_PATH}?api-version=2025-03-01&$skiptoken=AQAAAA%3D%3D"
    first, second = page(PAGE_1_ROWS, next_link), page(PAGE_2_ROWS, None)
    recorded.replies = {
        None: [(429, {"Retry-After": "0.1"}, b'{"error": {"code": "429"}}'), (200, {}, first)],
        "AQAAAA==": [
            (429, {"x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after": "0.1"}, b"{}"),
            (200, {}, second),
        ],
    }
    fetched = fetch_cost_query(source(endpoint), date(2023, 11, 22), tmp_path)

    assert [f.path.read_bytes() for f in fetched] == [first, second]
    assert [f.origin for f in fetched] == [f"{endpoint}{QUERY_PATH}?api-version=2025-03-01", next_link]
    assert all(f.modified_at.tzinfo is not None for f in fetched)
    assert [(r["query"].get("$skiptoken"), r["authorization"]) for r in recorded.requests] == [
        (None, f"Bearer {FakeCredential.token}"),
        (None, f"Bearer {FakeCredential.token}"),
        ("AQAAAA==", f"Bearer {FakeCredential.token}"),
        ("AQAAAA==", f"Bearer {FakeCredential.token}"),
    ]
    body = recorded.requests[0]["body"]
    assert all(r["body"] == body for r in recorded.requests)
    assert body["type"] == "AmortizedCost"
    assert body["timePeriod"] == {"from": "2023-11-22T00:00:00Z", "to": "2023-11-22T23:59:59Z"}
    assert body["dataset"]["granularity"] == "Daily"
    assert body["dataset"]["aggregation"] == {"totalCost": {"name": "PreTaxCost", "function": "Sum"}}
    assert body["dataset"]["grouping"] == [
        {"type": "Dimension", "name": "ResourceId"},
        {"type": "Dimension", "name": "MeterCategory"},
        {"type": "Dimension", "name": "MeterSubcategory"},
        {"type": "Dimension", "name": "Meter"},
        {"type": "Dimension", "name": "ChargeType"},
        {"type": "Dimension", "name": "PricingModel"},
        {"type": "TagKey", "name": "team"},
    ]
    assert set(credential.scopes) == {(f"{endpoint}/.default",)}
    assert "retry" in caplog.text.lower()
    assert FakeCredential.token not in caplog.text + "".join(f.origin for f in fetched)

    staged, rejected = stage(AZURE_COST_QUERY, [f.path for f in fetched])
    assert rejected == []
    vm, oai, unused, bandwidth = staged
    assert (vm["EffectiveCost"], vm["BilledCost"]) == (Decimal("123456789.0123456789"),) * 2
    assert (vm["ChargePeriodStart"], vm["ChargePeriodEnd"]) == (
        datetime(2023, 11, 22, tzinfo=UTC),
        datetime(2023, 11, 23, tzinfo=UTC),
    )
    assert (vm["SubAccountId"], vm["ResourceId"], vm["Tags"]) == (SUBSCRIPTION, VM, {"team": "search"})
    assert (vm["ServiceName"], vm["ServiceSubcategory"], vm["SkuMeter"]) == (
        "Virtual Machines",
        "Virtual Machines",
        "NC6s v3",
    )
    assert (oai["x_Provider"], oai["x_Model"], oai["Tags"]) == ("azure", "gpt-4o", {"team": "support"})
    assert (unused["BilledCost"], unused["EffectiveCost"], unused["CommitmentDiscountStatus"]) == (
        0,
        Decimal("13.5"),
        "Unused",
    )
    assert (unused["Tags"], unused["SubAccountId"], unused["ResourceId"]) == (None, None, None)
    assert bandwidth["EffectiveCost"] == Decimal("0.0000000001")
    served = [
        Decimal(str(row[0]))
        for text in (PAGE_1_ROWS, PAGE_2_ROWS)
        for row in json.loads(text, parse_float=Decimal, parse_int=Decimal)
    ]
    assert sum(r["EffectiveCost"] for r in staged) == sum(served) == Decimal("123456805.6385956791")


def test_a_repeated_next_link_stops_the_fetch(
    tmp_path: Path, query_api: tuple[str, Recorded], credential: FakeCredential
) -> None:
    endpoint, recorded = query_api
    loop = f"{endpoint}{QUERY_PATH}?api-version=2025-03-01&$skiptoken=again"
    recorded.replies = {None: [(200, {}, page("[]", loop))], "again": [(200, {}, page("[]", loop))] * 2}
    with pytest.raises(RuntimeError, match="repeated a page link"):
        fetch_cost_query(source(endpoint), date(2023, 11, 22), tmp_path)


@pytest.mark.parametrize(
    ("path", "options", "message"),
    [
        ("azure://", {}, "path must be azure://<scope>"),
        ("subscriptions/x", {}, "path must be azure://<scope>"),
        ("azure://subscriptions/x", {"endpoint": "http://example.com"}, "plain http only to a loopback address"),
        ("azure://subscriptions/x", {"dataset": "Usage"}, "dataset"),
        ("azure://subscriptions/x", {"colour": "blue"}, "colour"),
    ],
)
def test_bad_query_sources_are_refused_before_any_request(
    tmp_path: Path, credential: FakeCredential, path: str, options: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):  # bad options already when the source is configured
        fetch_cost_query(
            Source(name="azure_api", kind="azure_cost_query", path=path, options=options), date(2023, 11, 22), tmp_path
        )
    assert credential.scopes == []
