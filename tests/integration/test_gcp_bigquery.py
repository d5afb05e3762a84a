"""The `gcp_bigquery` kind against a BigQuery REST peer on 127.0.0.1 that answers the calls google-cloud-bigquery
3.47 makes (tables.get, jobs.query, jobs.get, jobs.getQueryResults) with responses shaped like the real API's and
evaluates the two queries' partition, usage-day and export-time filters over an export table it holds.

Credentials come from google-auth's default chain: `GOOGLE_APPLICATION_CREDENTIALS` names an authorized-user file
whose access token is still valid, so no token endpoint is called; the server refuses any other bearer token."""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from google.api_core.exceptions import Forbidden

from assets.config import Source, load_settings
from assets.ingest import SOURCE_KINDS
from assets.ingest.gcp_billing import GCP_BIGQUERY, fetch_gcp_bigquery
from assets.lake import Lake
from assets.raw import land_day
from assets.staging import stage_day
from tests.unit.test_staging import staged

TOKEN = "ya29.test-access-token-" + uuid.uuid4().hex
PROJECT, DATASET, TABLE = "finops-prod", "billing", "gcp_billing_export_resource_v1_01A2B3_C4D5E6_F7A8B9"
DAY = date(2026, 11, 3)


def field(name: str, type_: str = "STRING", mode: str = "NULLABLE", *fields: dict) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "type": type_, "mode": mode}
    if fields:
        out["fields"] = list(fields)
    return out


LABELS = (field("key"), field("value"))
SCHEMA = [
    field("billing_account_id"),
    field("service", "RECORD", "NULLABLE", field("id"), field("description")),
    field("sku", "RECORD", "NULLABLE", field("id"), field("description")),
    field("usage_start_time", "TIMESTAMP"),
    field("usage_end_time", "TIMESTAMP"),
    field(
        "project",
        "RECORD",
        "NULLABLE",
        field("id"),
        field("number"),
        field("name"),
        field("labels", "RECORD", "REPEATED", *LABELS),
        field("ancestry_numbers"),
    ),
    field("labels", "RECORD", "REPEATED", *LABELS),
    field("system_labels", "RECORD", "REPEATED", *LABELS),
    field("location", "RECORD", "NULLABLE", field("location"), field("country"), field("region"), field("zone")),
    field("resource", "RECORD", "NULLABLE", field("name"), field("global_name")),
    field("export_time", "TIMESTAMP"),
    field("cost", "FLOAT"),
    field("currency"),
    field("currency_conversion_rate", "FLOAT"),
    field(
        "usage",
        "RECORD",
        "NULLABLE",
        field("amount", "FLOAT"),
        field("unit"),
        field("amount_in_pricing_units", "FLOAT"),
        field("pricing_unit"),
    ),
    field(
        "credits",
        "RECORD",
        "REPEATED",
        field("name"),
        field("amount", "FLOAT"),
        field("full_name"),
        field("id"),
        field("type"),
    ),
    field("invoice", "RECORD", "NULLABLE", field("month")),
    field("cost_type"),
    field("cost_at_list", "FLOAT"),
]
"""A detailed export table from before `transaction_type` and `seller_name` existed."""

SELECTED = (
    "billing_account_id, service, sku, usage_start_time, usage_end_time, project, labels, location, cost, "
    "cost_at_list, currency, usage, credits, invoice, cost_type, resource, export_time"
)


def at(days: int, hour: int) -> datetime:
    """`hour` o'clock UTC, `days` after DAY."""
    return datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC) + timedelta(days=days, hours=hour)


def stamp(t: datetime) -> str:
    """A TIMESTAMP as `TO_JSON_STRING` writes it."""
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def export_row(hour: int, exported: datetime, cost: float, *credits: float) -> dict[str, Any]:
    """An export row of usage in hour `hour` of DAY (24 and later run into the next day), as BigQuery's JSON."""
    start = at(0, hour)
    return {
        "billing_account_id": "01A2B3-C4D5E6-F7A8B9",
        "service": {"id": "C7E2-9256-1C43", "description": "Vertex AI"},
        "sku": {"id": "B6D0-2A41-77E1", "description": "Gemini 2.5 Pro Text Input"},
        "usage_start_time": stamp(start),
        "usage_end_time": stamp(start + timedelta(hours=1)),
        "project": {
            "id": "search-prod",
            "number": "123456789012",
            "name": "Search",
            "labels": [{"key": "team", "value": "search"}],
            "ancestry_numbers": "/111/123456789012/",
        },
        "labels": [],
        "system_labels": [],
        "location": {"location": "us-central1", "country": "US", "region": "us-central1", "zone": None},
        "resource": {"name": "endpoint-1", "global_name": "//aiplatform.googleapis.com/projects/1/endpoints/9"},
        "export_time": stamp(exported),
        "cost": cost,
        "currency": "USD",
        "currency_conversion_rate": 1.0,
        "usage": {"amount": 1000.0, "unit": "count", "amount_in_pricing_units": 0.001, "pricing_unit": "count"},
        "credits": [
            {"name": "Promo", "amount": a, "full_name": None, "id": f"promo-{i}", "type": "PROMOTION"}
            for i, a in enumerate(credits)
        ],
        "invoice": {"month": "202611"},
        "cost_type": "regular",
        "cost_at_list": cost,
    }


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def micros(t: datetime) -> str:
    """A TIMESTAMP as jobs.query returns it under `formatOptions.useInt64Timestamp`."""
    return str((t - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1))


class FakeBigQuery(ThreadingHTTPServer):
    """The export table `PROJECT.DATASET.TABLE` as (partition day, row) pairs, and every request received."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.schema = SCHEMA
        self.rows: list[tuple[date, dict]] = []
        self.requests: list[dict[str, Any]] = []
        self.pages: dict[str, list[list[dict]]] = {}
        self.after_partition_query: Callable[[], None] = lambda: None
        self.denied = False

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    def add(self, partition: date, row: dict) -> None:
        self.rows.append((partition, row))

    def queries(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests if r["method"] == "POST"]

    def query(self, body: dict[str, Any]) -> dict[str, Any]:
        sql = body["query"]
        params = {p["name"]: p["parameterValue"]["value"] for p in body["queryParameters"]}
        first, last = date.fromisoformat(params["first_partition"]), date.fromisoformat(params["last_partition"])
        day = date.fromisoformat(params["usage_day"])
        rows = [(p, r) for p, r in self.rows if first <= p <= last and parse_time(r["usage_start_time"]).date() == day]
        job = {"projectId": PROJECT, "jobId": f"job_{uuid.uuid4().hex[:12]}", "location": "US"}
        if "max(export_time)" in sql:
            by_partition: dict[date, list[dict]] = {}
            for p, r in rows:
                by_partition.setdefault(p, []).append(r)
            values = [
                [p.isoformat(), micros(max(parse_time(r["export_time"]) for r in rs)), str(len(rs))]
                for p, rs in sorted(by_partition.items())
            ]
            schema = [field("partition_date", "DATE"), field("last_export", "TIMESTAMP"), field("row_count", "INTEGER")]
            self.after_partition_query()
        else:
            columns = re.search(r"to_json_string\(struct\((.*?)\)\) as row", sql).group(1).split(", ")
            snapshot = datetime.fromisoformat(params["last_export"])
            texts = sorted(
                (parse_time(r["export_time"]), json.dumps({c: r.get(c) for c in columns}, separators=(",", ":")))
                for _, r in rows
                if parse_time(r["export_time"]) <= snapshot
            )
            values = [[text] for _, text in texts]
            schema = [field("row")]
        encoded = [{"f": [{"v": v} for v in row]} for row in values]
        size = body.get("maxResults") or len(encoded) or 1
        pages = [encoded[i : i + size] for i in range(0, len(encoded), size)] or [[]]
        self.pages[job["jobId"]] = pages
        response = {
            "kind": "bigquery#queryResponse",
            "schema": {"fields": schema},
            "jobReference": job,
            "totalRows": str(len(encoded)),
            "rows": pages[0],
            "totalBytesProcessed": str(512 * len(self.rows)),
            "jobComplete": True,
            "cacheHit": False,
            "queryId": job["jobId"],
        }
        if len(pages) > 1:
            response["pageToken"] = "1"
        return response

    def job(self, job_id: str) -> dict[str, Any]:
        reference = {"projectId": PROJECT, "jobId": job_id, "location": "US"}
        return {
            "kind": "bigquery#job",
            "id": f"{PROJECT}:US.{job_id}",
            "jobReference": reference,
            "configuration": {"jobType": "QUERY", "query": {"useLegacySql": False}},
            "status": {"state": "DONE"},
            "statistics": {"creationTime": "1793000000000", "startTime": "1793000000100", "endTime": "1793000000900"},
        }

    def query_results(self, job_id: str, page_token: str) -> dict[str, Any]:
        pages, index = self.pages[job_id], int(page_token)
        response = {
            "kind": "bigquery#getQueryResultsResponse",
            "jobReference": {"projectId": PROJECT, "jobId": job_id, "location": "US"},
            "totalRows": str(sum(len(p) for p in pages)),
            "rows": pages[index],
            "jobComplete": True,
        }
        if index + 1 < len(pages):
            response["pageToken"] = str(index + 1)
        return response

    def table(self) -> dict[str, Any]:
        return {
            "kind": "bigquery#table",
            "id": f"{PROJECT}:{DATASET}.{TABLE}",
            "tableReference": {"projectId": PROJECT, "datasetId": DATASET, "tableId": TABLE},
            "schema": {"fields": self.schema},
            "timePartitioning": {"type": "DAY"},
            "numRows": str(len(self.rows)),
            "type": "TABLE",
            "location": "US",
        }


class _Handler(BaseHTTPRequestHandler):
    server: FakeBigQuery

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.server.requests.append(
            {
                "method": method,
                "path": url.path,
                "query": parse_qs(url.query),
                "body": body,
                "auth": self.headers["Authorization"],
            }
        )
        if self.headers["Authorization"] != f"Bearer {TOKEN}" or self.server.denied:
            # 403, not 401: on a 401 google-auth would refresh the token at Google's token endpoint
            message = f"Access Denied: Table {PROJECT}:{DATASET}.{TABLE}: Permission bigquery.tables.get denied"
            return self._reply(403, {"error": {"code": 403, "message": message, "status": "PERMISSION_DENIED"}})
        base = f"/bigquery/v2/projects/{PROJECT}"
        if method == "GET" and url.path == f"{base}/datasets/{DATASET}/tables/{TABLE}":
            return self._reply(200, self.server.table())
        if method == "POST" and url.path == f"{base}/queries":
            return self._reply(200, self.server.query(body))
        if method == "GET" and url.path.startswith(f"{base}/jobs/"):
            return self._reply(200, self.server.job(url.path.rsplit("/", 1)[1]))
        if method == "GET" and url.path.startswith(f"{base}/queries/"):
            token = parse_qs(url.query)["pageToken"][0]
            return self._reply(200, self.server.query_results(url.path.rsplit("/", 1)[1], token))
        self._reply(404, {"error": {"code": 404, "message": f"Not found: {url.path}", "status": "NOT_FOUND"}})

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def bigquery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBigQuery]:
    credentials = tmp_path / "adc.json"
    credentials.write_text(
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "apportion-test.apps.googleusercontent.com",
                "client_secret": "not-a-secret",
                "refresh_token": "1//refresh-" + TOKEN,
                "token": TOKEN,
                "expiry": "2999-01-01T00:00:00Z",
            }
        )
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(credentials))
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
    monkeypatch.setitem(SOURCE_KINDS, "gcp_bigquery", GCP_BIGQUERY)
    server = FakeBigQuery()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """Where a fetch writes (`land_day` gives it a scratch folder)."""
    path = tmp_path / "work"
    path.mkdir()
    return path


def source(server: FakeBigQuery, **options: Any) -> Source:
    return Source(
        name="gcp",
        kind="gcp_bigquery",
        path=f"bq://{PROJECT}.{DATASET}.{TABLE}",
        options={"api_endpoint": server.endpoint, **options},
    )


def test_fetch_pages_the_usage_days_rows_from_the_partitions_that_can_hold_them(
    bigquery: FakeBigQuery, workdir: Path
) -> None:
    early, late, next_day = export_row(0, at(0, 9), 1.25), export_row(23, at(1, 3), 0.5), export_row(24, at(1, 5), 9.0)
    bigquery.add(DAY, early)
    bigquery.add(DAY, export_row(1, at(0, 21), 2.0, -0.5))
    bigquery.add(DAY + timedelta(days=1), late)
    bigquery.add(DAY + timedelta(days=1), next_day)
    bigquery.add(DAY + timedelta(days=6), export_row(2, at(6, 1), 7.0))  # later than lateness_days: never read
    page, partition_map = fetch_gcp_bigquery(source(bigquery, page_size=2, maximum_bytes_billed=10**9), DAY, workdir)

    assert (page.path.name, partition_map.path.name) == (
        f"{TABLE}-2026-11-03.jsonl",
        f"{TABLE}-2026-11-03.partitions.json",
    )
    assert page.origin == f"bq://{PROJECT}.{DATASET}.{TABLE}?usage_day=2026-11-03"
    assert page.modified_at == partition_map.modified_at == at(1, 3)
    lines = [json.loads(line) for line in page.path.read_text().splitlines()]
    assert [(r["usage_start_time"], r["export_time"], r["cost"]) for r in lines] == [
        ("2026-11-03T00:00:00Z", "2026-11-03T09:00:00Z", 1.25),
        ("2026-11-03T01:00:00Z", "2026-11-03T21:00:00Z", 2.0),
        ("2026-11-03T23:00:00Z", "2026-11-04T03:00:00Z", 0.5),
    ]
    assert "system_labels" not in lines[0] and lines[0]["credits"] == [] and lines[1]["credits"][0]["amount"] == -0.5
    assert json.loads(partition_map.path.read_text()) == {
        "table": f"{PROJECT}.{DATASET}.{TABLE}",
        "usage_day": "2026-11-03",
        "columns": SELECTED.split(", "),
        "partitions": [
            {"partition_date": "2026-11-03", "last_export": "2026-11-03T21:00:00+00:00", "rows": 2},
            {"partition_date": "2026-11-04", "last_export": "2026-11-04T03:00:00+00:00", "rows": 1},
        ],
    }

    calls = [(r["method"], r["path"].removeprefix(f"/bigquery/v2/projects/{PROJECT}")) for r in bigquery.requests]
    jobs = [r["path"].rsplit("/", 1)[1] for r in bigquery.requests if "/jobs/" in r["path"]]
    assert calls == [
        ("GET", f"/datasets/{DATASET}/tables/{TABLE}"),
        ("POST", "/queries"),
        ("POST", "/queries"),
        ("GET", f"/jobs/{jobs[0]}"),
        ("GET", f"/queries/{jobs[0]}"),
    ]
    partitions, rows = bigquery.queries()
    values = lambda q: {p["name"]: p["parameterValue"]["value"] for p in q["queryParameters"]}  # noqa: E731
    assert values(partitions) == {
        "first_partition": "2026-11-02",
        "last_partition": "2026-11-08",
        "usage_day": "2026-11-03",
    }
    assert values(rows) == {
        "first_partition": "2026-11-03",
        "last_partition": "2026-11-04",
        "usage_day": "2026-11-03",
        "last_export": "2026-11-04 03:00:00+00:00",
    }
    assert f"to_json_string(struct({SELECTED})) as row" in rows["query"]
    assert all(f"from `{PROJECT}.{DATASET}.{TABLE}`" in q["query"] for q in (partitions, rows))
    assert all(
        q["labels"] == {"apportion_source": "gcp"} and q["formatOptions"]["useInt64Timestamp"]
        for q in (partitions, rows)
    )
    assert (partitions.get("maxResults"), rows["maxResults"]) == (None, 2)
    assert partitions["maximumBytesBilled"] == rows["maximumBytesBilled"] == "1000000000"
    assert {r["auth"] for r in bigquery.requests} == {f"Bearer {TOKEN}"}


def test_a_day_with_no_rows_costs_one_query_and_offers_nothing(bigquery: FakeBigQuery, workdir: Path) -> None:
    bigquery.add(DAY, export_row(30, at(2, 1), 1.0))
    assert fetch_gcp_bigquery(source(bigquery), DAY, workdir) == []
    (query,) = bigquery.queries()
    assert "maximumBytesBilled" not in query and list(workdir.iterdir()) == []


def test_a_table_that_is_not_a_billing_export_is_refused_before_any_query(
    bigquery: FakeBigQuery, workdir: Path
) -> None:
    bigquery.schema = [f for f in SCHEMA if f["name"] not in ("cost", "export_time")]
    with pytest.raises(
        ValueError, match=rf"bq://{PROJECT}.{DATASET}.{TABLE}: not a billing export table, it lacks export_time, cost"
    ):
        fetch_gcp_bigquery(source(bigquery), DAY, workdir)
    assert bigquery.queries() == []


def test_rows_that_change_between_the_two_queries_fail_the_fetch(bigquery: FakeBigQuery, workdir: Path) -> None:
    bigquery.add(DAY, export_row(1, at(0, 9), 1.0))
    bigquery.add(DAY, export_row(2, at(0, 9), 2.0))
    bigquery.after_partition_query = lambda: bigquery.rows.pop()
    with pytest.raises(RuntimeError, match="1 rows read but the partition map counted 2"):
        fetch_gcp_bigquery(source(bigquery), DAY, workdir)


def test_a_denied_request_fails_with_bigquerys_message_and_never_the_token(
    bigquery: FakeBigQuery, workdir: Path
) -> None:
    bigquery.denied = True
    with pytest.raises(Forbidden, match=r"Permission bigquery\.tables\.get denied") as denied:
        fetch_gcp_bigquery(source(bigquery), DAY, workdir)
    assert TOKEN not in str(denied.value) and "ya29" not in repr(denied.value)


def test_a_late_credit_restages_the_day_and_an_unchanged_export_lands_nothing_new(
    bigquery: FakeBigQuery, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    (tmp_path / "allocation.yaml").write_text("rules: []\n")
    (tmp_path / "apportion.yaml").write_text(
        "allocation: allocation.yaml\nprices: null\nsources:\n"
        f"  - {{name: gcp, kind: gcp_bigquery, path: 'bq://{PROJECT}.{DATASET}.{TABLE}', "
        f"options: {{api_endpoint: '{bigquery.endpoint}', page_size: 2}}}}\n"
    )
    settings = load_settings(tmp_path / "apportion.yaml")
    lake = Lake(settings.app.lake)
    rows = [
        export_row(h, at(0, 9 + h), c, *credits)
        for h, c, credits in ((0, 1.25, ()), (1, 2.0, (-0.5,)), (2, 0.3333333333, ()))
    ]
    for row in rows:
        bigquery.add(DAY, row)

    def run() -> tuple[list[dict], list[str]]:
        land_day(settings, DAY)
        stage_day(settings, DAY)
        logs = staged(settings, "ingest_log", DAY)  # the page of rows and the partition map landed beside it
        assert all(log["balanced"] and log["rows_read"] == log["rows_valid"] for log in logs)
        assert sum(log["rows_read"] for log in logs) == len(staged(settings, "cost_lines", DAY))
        return staged(settings, "cost_lines", DAY), sorted(p.name for p in lake.raw_dir("gcp").iterdir())

    lines, raw = run()
    assert sum(line["BilledCost"] for line in lines) == Decimal("3.0833333333")
    assert len(raw) == 2

    assert run() == (lines, raw)  # nothing exported since: the same page, one raw copy, the same staging

    credit = export_row(1, at(3, 10), 0.0, -0.75)
    credit["sku"] = {"id": "PROMO", "description": "Promotional credit"}
    bigquery.add(DAY + timedelta(days=3), credit)
    relanded, raw_after = run()
    assert len(relanded) == 4 and sum(line["BilledCost"] for line in relanded) == Decimal("2.3333333333")
    assert len(raw_after) == 4 and set(raw) < set(raw_after)
    newest = json.loads(
        next(p for p in lake.raw_dir("gcp").iterdir() if p.name not in raw and p.name.endswith(".json")).read_text()
    )
    assert [p["partition_date"] for p in newest["partitions"]] == ["2026-11-03", "2026-11-06"]

    leaked = [
        p for p in tmp_path.rglob("*") if p.is_file() and p.name != "adc.json" and TOKEN.encode() in p.read_bytes()
    ]
    assert leaked == [] and TOKEN not in caplog.text
