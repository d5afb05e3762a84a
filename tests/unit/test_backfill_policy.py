"""How a backfill is cut into runs is decided from the config: runs of a few days, unless a source spreads its
lines by usage (a day's share then needs the usage of every day of the line's period, so one run stages them all)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import yaml

from assets.config import load_settings
from pipelines.assets import DAILY_ASSETS
from pipelines.definitions import defs
from pipelines.partitions import DAYS_PER_RUN, backfill_policy, for_config
from tests.e2e.conftest import write_config


def config(tmp_path: Path, usage_spread: bool) -> Path:
    """The demo's sources; without the usage spread of the vendor invoices unless `usage_spread`."""
    path = write_config(tmp_path, tmp_path / "sample")
    data = yaml.safe_load(path.read_text())
    if not usage_spread:
        data["sources"] = [{k: v for k, v in s.items() if k != "spread"} for s in data["sources"]]
    assert any(s.get("spread", {}).get("method") == "usage" for s in data["sources"]) is usage_spread
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_without_a_usage_spread_a_backfill_is_runs_of_a_few_days(tmp_path: Path) -> None:
    settings = load_settings(config(tmp_path, usage_spread=False))
    assert DAYS_PER_RUN == 3
    assert backfill_policy(settings) == dg.BackfillPolicy.multi_run(max_partitions_per_run=3)
    assets = for_config(settings, DAILY_ASSETS)
    # one policy for every layer, so that a run holds every layer of its days
    assert [a.backfill_policy for a in assets] == [dg.BackfillPolicy.multi_run(3)] * len(DAILY_ASSETS)
    assert [a.partitions_def.start.date() for a in assets] == [settings.app.start_date] * len(DAILY_ASSETS)


def test_a_usage_spread_makes_a_backfill_one_run(tmp_path: Path) -> None:
    settings = load_settings(config(tmp_path, usage_spread=True))
    assert backfill_policy(settings) == dg.BackfillPolicy.single_run()
    assert {a.backfill_policy for a in for_config(settings, DAILY_ASSETS)} == {dg.BackfillPolicy.single_run()}


def test_the_code_location_takes_the_policy_of_its_config() -> None:
    # the repository's apportion.yaml spreads Pinecone's statements by requests: one run
    graph = defs.resolve_asset_graph()
    daily = {key for a in DAILY_ASSETS for key in a.keys}
    assert {graph.get(key).backfill_policy for key in daily} == {dg.BackfillPolicy.single_run()}
