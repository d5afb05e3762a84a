"""Budget alerts end to end in Dagster: the insight marts materialize, the non-blocking check warns about a budget
over its limit and posts Slack-compatible JSON to a webhook served by a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pytest

import pipelines.insights as insight_marts_module
from assets.marts.insights import INSIGHT_TABLES, build_insight_day
from assets.marts.insights_config import Alerts, Budget, InsightsConfig
from assets.pricing import PriceOverrides
from assets.warehouse import open_warehouse
from pipelines.insights import INSIGHT_ASSETS, INSIGHT_CHECKS, alert_result
from pipelines.resources import ApportionConfig
from tests.insights_fixtures import days, fact, lake_days, write_lake

REPO = Path(__file__).resolve().parents[2]


class Webhook(BaseHTTPRequestHandler):
    """Records each POST body; answers with the server's `status`."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.headers["Content-Type"], json.loads(body)))  # type: ignore[attr-defined]
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Webhook)
    server.received, server.status = [], 200  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A lake where team search spent 60 a day in November against a budget of 500, and its apportion.yaml."""
    lake = write_lake(tmp_path / "lake", facts=[fact(d, "60", team="search") for d in days(date(2026, 11, 1), 10)])
    for day in lake_days(lake):  # the days' insight aggregates, as the nightly runs write them
        build_insight_day(lake, InsightsConfig(), PriceOverrides(), day)
    config = tmp_path / "apportion.yaml"
    config.write_text(
        f"warehouse: warehouse.duckdb\nlake: lake\nallocation: {REPO / 'config' / 'allocation.yaml'}\n"
        f"prices: {REPO / 'config' / 'prices.yaml'}\nsources: []\n"
    )
    insights = InsightsConfig(
        budgets=[Budget(name="search_monthly", team="search", monthly_usd=Decimal(500))],
        alerts=Alerts(webhook_url_env="APPORTION_TEST_WEBHOOK"),
    )
    monkeypatch.setattr(insight_marts_module, "insights_config", lambda settings: insights)
    return config


def materialize(config: Path) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [*INSIGHT_ASSETS, *INSIGHT_CHECKS],
        resources={"apportion": ApportionConfig(path=str(config))},
        instance=dg.DagsterInstance.ephemeral(),
    )


def test_a_budget_over_its_limit_warns_and_posts_to_the_webhook(pipeline, webhook, monkeypatch):
    monkeypatch.setenv("APPORTION_TEST_WEBHOOK", f"http://127.0.0.1:{webhook.server_port}/hooks/budget")

    result = materialize(pipeline)

    assert result.success
    materialized = {e.asset_key.path[-1] for e in result.get_asset_materialization_events()}
    assert materialized == {*INSIGHT_TABLES, "insights_warehouse"}
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    budget = checks["budgets_on_track"]
    assert (budget.passed, budget.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert budget.metadata["webhook"].value == "posted (HTTP 200)"
    assert checks["no_cost_anomalies"].passed
    ((content_type, payload),) = webhook.received
    assert content_type == "application/json"
    assert payload == {
        "text": "*Budgets over or at risk*\n"
        "• search_monthly (team search) over in 2026-11: $600.00 spent of $500.00, forecast $1,800.00"
    }
    with open_warehouse(pipeline.parent / "warehouse.duckdb") as con:
        assert con.execute("select status from marts.budget_status").fetchall() == [("over",)]


ALERTS = Alerts(webhook_url_env="APPORTION_TEST_WEBHOOK", timeout_s=5)


def test_a_failing_webhook_is_reported_without_its_url(webhook, monkeypatch):
    webhook.status = 500
    monkeypatch.setenv("APPORTION_TEST_WEBHOOK", f"http://127.0.0.1:{webhook.server_port}/hooks/secret-token-123")

    result = alert_result("Budgets over or at risk", ["search_monthly over"], ALERTS)

    assert (result.passed, result.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert result.metadata["webhook"].value == "not posted: HTTP 500"
    assert all("secret-token-123" not in str(v.value) for v in result.metadata.values())
    assert len(webhook.received) == 1


def test_an_unreachable_webhook_or_a_non_http_url_is_reported_not_raised(monkeypatch):
    monkeypatch.setenv("APPORTION_TEST_WEBHOOK", "http://127.0.0.1:9/hooks")  # discard port: nothing listens
    assert alert_result("Alerts", ["x"], ALERTS).metadata["webhook"].value.startswith("not posted: ")
    monkeypatch.setenv("APPORTION_TEST_WEBHOOK", "file:///etc/passwd")
    assert (
        alert_result("Alerts", ["x"], ALERTS).metadata["webhook"].value == "not posted: the webhook URL must be http(s)"
    )


def test_without_the_variable_or_without_alerts_nothing_is_posted(webhook, monkeypatch):
    monkeypatch.delenv("APPORTION_TEST_WEBHOOK", raising=False)
    assert "webhook" not in alert_result("Alerts", ["x"], ALERTS).metadata
    monkeypatch.setenv("APPORTION_TEST_WEBHOOK", f"http://127.0.0.1:{webhook.server_port}/hooks")
    quiet = alert_result("Alerts", [], ALERTS)
    assert quiet.passed and "webhook" not in quiet.metadata
    assert webhook.received == []
