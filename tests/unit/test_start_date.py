"""`start_date:` of apportion.yaml: validated with the rest of the config, the first daily partition of the Dagster
code location (which loads the config it is pointed at)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from assets.config import DEFAULT_START_DATE, ConfigError, load_settings
from tests.unit.test_config import SOURCES, write

REPO = Path(__file__).resolve().parents[2]


def test_start_date_defaults_to_2020_and_reads_a_yaml_date(tmp_path):
    assert load_settings(write(tmp_path, "allocation: allocation.yaml\n" + SOURCES)).app.start_date == date(2020, 1, 1)
    assert date(2020, 1, 1) == DEFAULT_START_DATE
    path = write(tmp_path, "allocation: allocation.yaml\nstart_date: 2023-11-01\n" + SOURCES)
    assert load_settings(path).app.start_date == date(2023, 11, 1)


def test_a_start_date_that_is_not_a_date_names_file_and_line(tmp_path):
    path = write(tmp_path, "allocation: allocation.yaml\nstart_date: 2023-13-01\n" + SOURCES)
    with pytest.raises(ConfigError, match=rf"^{path}:2: start_date: not a valid date \(month must be in 1..12\)$"):
        load_settings(path)


def test_the_code_location_starts_its_partitions_on_the_configs_start_date(tmp_path):
    (tmp_path / "allocation.yaml").write_text((REPO / "config" / "allocation.yaml").read_text())
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "import dagster as dg\nfrom pipelines.definitions import defs\n"
            "print(defs.resolve_asset_graph().get(dg.AssetKey('fact_cost')).partitions_def.get_first_partition_key())",
        ],
        env={**os.environ, "APPORTION_CONFIG": str(write(tmp_path, f"allocation: {REPO}/config/allocation.yaml\n"
                                                                  "start_date: 2023-11-01\n" + SOURCES))},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "2023-11-01"
