"""On the demo data, the insight marts computed from the daily aggregates equal, value for value, the marts as they
were computed before from the whole history of calls (tests/insights_before.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

from assets.lake import Lake
from assets.marts.insights import INSIGHT_TABLES
from assets.marts.insights_config import BusinessMetrics, load_insights
from assets.pricing import load_price_overrides
from tests.e2e.conftest import REPO, Run
from tests.insights_before import build_before, differences
from tests.insights_fixtures import build_all, read_mart

LAYERS = ("staging", "pricing", "allocation", "marts")


def test_every_mart_over_the_daily_aggregates_equals_the_mart_over_the_calls(pipeline_run: Run, tmp_path: Path):
    lake = Lake(tmp_path / "lake")
    source = pipeline_run.root / "out" / "lake"
    for layer in LAYERS:
        shutil.copytree(source / layer, lake.root / layer, ignore=shutil.ignore_patterns("_*"))
    for table in INSIGHT_TABLES:  # the run's own marts go: both ways write theirs again
        shutil.rmtree(lake.root / "marts" / table, ignore_errors=True)
    metrics = tmp_path / "revenue.csv"
    metrics.write_text(
        "date,metric,value,customer\n" + "".join(f"{d},revenue,100,cust_0001\n" for d in pipeline_run.days)
    )
    config = load_insights(REPO / "config" / "insights.yaml")
    config = config.model_copy(update={"business_metrics": BusinessMetrics(file=metrics, revenue=["revenue"])})
    overrides = load_price_overrides(REPO / "config" / "prices.yaml")

    built = build_all(lake, config, overrides)
    before = build_before(lake, config, overrides, tmp_path / "before")

    assert built.as_of == pipeline_run.days[-1]
    assert {t: n for t, n in built.rows.items() if n == 0} == {}
    assert differences(lake, before) == {}
    duplication = read_mart(lake, "prompt_duplication")  # the generator's planted repeats and near duplicates
    assert sum(r["exact_repeat_calls"] for r in duplication) > 0
    assert sum(r["near_duplicate_calls"] for r in duplication) > 0
