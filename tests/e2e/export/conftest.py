"""The demo lake of `pipeline_run` exported as FOCUS in every version and format, once per test session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from assets.config import Settings, load_settings
from assets.export.focus import FOCUS_VERSIONS, FORMATS, export_focus
from tests.e2e.conftest import Run


@dataclass(frozen=True)
class Export:
    version: str
    fmt: str
    files: list[Path]
    rows: int


@pytest.fixture(scope="session")
def settings(pipeline_run: Run) -> Settings:
    return load_settings(pipeline_run.config)


@pytest.fixture(scope="session")
def exports(pipeline_run: Run, settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Export]:
    """`"<version>/<format>"` → the export of every day of the run."""
    out = tmp_path_factory.mktemp("focus")
    first, last = pipeline_run.days[0], pipeline_run.days[-1]
    made = {}
    for version in FOCUS_VERSIONS:
        for fmt in FORMATS:
            summary = export_focus(settings, first, last, out / f"{version}-{fmt}", version, fmt)
            made[f"{version}/{fmt}"] = Export(version, fmt, [Path(f) for f in summary["files"]], summary["rows"])
    return made
