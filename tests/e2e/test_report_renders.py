"""The demo produces every insight mart, and `apportion report` writes one self-contained HTML file whose charts
draw in headless Chromium without a single network request.

Chromium is driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: fds 3 and 4, NUL-separated
JSON), so the test needs nothing but the browser: it loads the report, reads each chart's box and marks from the
DOM, takes a screenshot of each chart and counts the coloured (data) pixels in it."""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from assets.lake import Lake
from assets.marts.insights import INSIGHT_TABLES
from assets.marts.insights_config import BusinessMetrics, load_insights
from assets.pricing import load_price_overrides
from assets.report import write_report
from tests.e2e.conftest import REPO, Run
from tests.insights_fixtures import build_all, read_mart

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
TIMEOUT_S = 30
CHARTS = {
    "spend_by_team",
    "top_features",
    "top_customers",
    "top_agents",
    "retry_share",
    "token_growth",
    "anomalies",
    "budgets",
    "unallocated_share",
    "forecast",
}


@pytest.fixture(scope="module")
def demo_lake(pipeline_run: Run, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """The e2e pipeline's lake with every insight mart built, with the example insights.yaml and a revenue file."""
    metrics = tmp_path_factory.mktemp("metrics") / "revenue.csv"
    metrics.write_text(
        "date,metric,value,customer\n"
        + "".join(f"{d},revenue,{100 + i},cust_0001\n" for i, d in enumerate(pipeline_run.days))
    )
    config = load_insights(REPO / "config" / "insights.yaml")
    config = config.model_copy(update={"business_metrics": BusinessMetrics(file=metrics, revenue=["revenue"])})
    lake = Lake(pipeline_run.root / "out" / "lake")
    build_all(lake, config, load_price_overrides(REPO / "config" / "prices.yaml"))
    return lake


def test_the_demo_produces_every_insight_mart(demo_lake: Lake, pipeline_run: Run):
    empty = [t for t in INSIGHT_TABLES if not read_mart(demo_lake, t)]
    assert empty == []
    roi = read_mart(demo_lake, "business_roi")
    assert [(r["charge_date"], r["metric_value"]) for r in roi] == [
        (d, Decimal(100 + i)) for i, d in enumerate(pipeline_run.days)
    ]
    keys = read_mart(demo_lake, "shadow_ai", "kind = 'api_key'")
    # key_search's calls that nobody logged are a telemetry gap of a managed key (true_up), not shadow AI
    assert [(r["key"], r["rank"], r["unowned_share"]) for r in keys] == [("key_orphan", 1, Decimal(1))]


class DevTools:
    """A Chromium over `--remote-debugging-pipe`: send a command, read until its answer, keep the events."""

    def __init__(self, chromium: str, profile: Path) -> None:
        commands_read, self._commands = os.pipe()
        self._answers, answers_write = os.pipe()
        self._process = subprocess.Popen(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                "--remote-debugging-pipe",
                "about:blank",
            ],
            pass_fds=(3, 4),
            preexec_fn=lambda: (os.dup2(commands_read, 3), os.dup2(answers_write, 4)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(commands_read)
        os.close(answers_write)
        self._buffer, self._next_id, self.events, self._waited = b"", 0, [], []

    def send(self, method: str, session: str | None = None, **params: Any) -> dict:
        self._next_id += 1
        message = {
            "id": self._next_id,
            "method": method,
            "params": params,
            **({"sessionId": session} if session else {}),
        }
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._read()
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer["result"]
            self.events.append(answer)

    def wait_for(self, method: str) -> dict:
        """The first event `method` received since the last call, reading on until it comes."""
        seen = len(self._waited)
        while not any(e.get("method") == method for e in self.events[seen:]):
            self.events.append(self._read())
        event = next(e for e in self.events[seen:] if e.get("method") == method)
        self._waited = self.events[: self.events.index(event) + 1]
        return event

    def _read(self) -> dict:
        while b"\0" not in self._buffer:
            if not select.select([self._answers], [], [], TIMEOUT_S)[0]:
                raise TimeoutError(f"no word from chromium in {TIMEOUT_S} s")
            chunk = os.read(self._answers, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def page(self, url: str = "about:blank") -> str:
        target = self.send("Target.createTarget", url=url)["targetId"]
        return self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    def evaluate(self, session: str, expression: str) -> Any:
        result = self.send("Runtime.evaluate", session, expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"]["value"]

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError):
            self.send("Browser.close")
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        os.close(self._commands)
        os.close(self._answers)


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[DevTools]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (CI: apt-get install -y chromium)")
    browser = DevTools(CHROMIUM, tmp_path / "profile")
    try:
        yield browser
    finally:
        browser.close()


CHART_BOXES = """JSON.stringify([...document.querySelectorAll('figure.chart')].map(f => {
  const svg = f.querySelector('svg.plot'); const r = svg ? svg.getBoundingClientRect() : null;
  return {name: f.dataset.chart, marks: svg ? svg.querySelectorAll('.mark').length : 0,
          box: r && {x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height}};
}))"""

COLOURED_PIXELS = """(async () => {
  const img = new Image(); img.src = 'data:image/png;base64,%s'; await img.decode();
  const c = document.createElement('canvas'); c.width = img.width; c.height = img.height;
  const g = c.getContext('2d'); g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data; let n = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (Math.max(d[i], d[i+1], d[i+2]) - Math.min(d[i], d[i+1], d[i+2]) > 60) n++;
  }
  return n;
})()"""


def test_the_report_is_one_file_whose_charts_draw_without_the_network(demo_lake, pipeline_run, chromium, tmp_path):
    out = write_report(demo_lake, tmp_path / "report.html", start=pipeline_run.days[0] + timedelta(days=1))
    html = out.read_text()
    assert "<script" not in html and "http://" not in html and "https://" not in html and "@import" not in html

    page = chromium.page()
    chromium.send("Network.enable", page)
    chromium.send("Page.enable", page)
    chromium.send("Page.navigate", page, url=out.as_uri())
    chromium.wait_for("Page.loadEventFired")
    charts = {c["name"]: c for c in json.loads(chromium.evaluate(page, CHART_BOXES))}
    requested = [
        e["params"]["request"]["url"] for e in chromium.events if e.get("method") == "Network.requestWillBeSent"
    ]

    assert requested == [out.as_uri()]
    assert set(charts) == CHARTS
    shots = {}
    for name, chart in charts.items():
        assert chart["box"] and chart["box"]["width"] > 100 and chart["box"]["height"] > 40, name
        assert chart["marks"] >= 2, name
        clip = {**chart["box"], "scale": 1}
        shots[name] = chromium.send("Page.captureScreenshot", page, format="png", captureBeyondViewport=True, clip=clip)
    scratch = chromium.page()  # the report's policy forbids data: images, so pixels are counted on a blank page
    for name, shot in shots.items():
        coloured = chromium.evaluate(scratch, COLOURED_PIXELS % shot["data"])
        assert coloured >= 150, f"{name}: {coloured} coloured pixels"
