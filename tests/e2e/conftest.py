"""A small generated dataset run through the whole pipeline once per test session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from pipelines.cli import app
from sample_data import generate

REPO = Path(__file__).resolve().parents[2]
START = date(2026, 11, 1)
DAYS = 3


@dataclass
class Run:
    root: Path
    config: Path
    sample: Path
    days: list[date]

    def cli(self, *args: str):
        return CliRunner().invoke(app, [*args, "--config", str(self.config)], catch_exceptions=False)


def write_config(root: Path, sample: Path) -> Path:
    """apportion.yaml for a test folder: the repo's rules and prices, the demo config's sources over `sample`."""
    demo = yaml.safe_load((REPO / "apportion.yaml").read_text())
    sources = [{**s, "path": s["path"].replace("data/sample", str(sample))} for s in demo["sources"]]
    config = root / "apportion.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "warehouse": "out/warehouse.duckdb",
                "lake": "out/lake",
                "allocation": str(REPO / "config" / "allocation.yaml"),
                "prices": str(REPO / "config" / "prices.yaml"),
                "memory_limit": "2GB",
                "sources": sources,
            },
            sort_keys=False,
        )
    )
    return config


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    root = tmp_path_factory.mktemp("e2e")
    sample = root / "sample"
    generate(sample, start=START, days=DAYS, calls_per_day=2_000, seed=11)
    run = Run(root, write_config(root, sample), sample, [START + timedelta(days=i) for i in range(DAYS)])
    result = run.cli("run", "--start", run.days[0].isoformat(), "--end", run.days[-1].isoformat())
    assert result.exit_code == 0, result.output
    return run
