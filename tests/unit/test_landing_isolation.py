"""One source that fails to land never stops the others, in layer code (what the CLI, Dagster and scripts share):
`land_days` reports it and removes its day's manifest, `stage_landed_days` stages that day without it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

import assets.raw
from assets.config import load_settings
from assets.lake import Lake
from assets.raw import land_day, land_days
from assets.staging import stage_landed_days
from tests.unit.test_staging import focus_file, staged

DAYS = [date(2026, 11, 1), date(2026, 11, 2)]


def line(amount: str, day: date) -> str:
    return f"{amount},{amount},USD,Usage,{day}T00:00:00Z,{day}T01:00:00Z,S3,1"


def two_sources(tmp_path: Path):
    for day, (a, b) in zip(DAYS, [("1.50", "10.00"), ("2.25", "20.00")], strict=True):
        focus_file(tmp_path / "a" / f"{day}.csv", line(a, day))
        focus_file(tmp_path / "b" / f"{day}.csv", line(b, day))
    (tmp_path / "allocation.yaml").write_text("rules: []\n")
    (tmp_path / "apportion.yaml").write_text(
        "allocation: allocation.yaml\nprices: null\nsources:\n"
        "  - {name: bill_a, kind: focus, path: 'a/{date}.csv'}\n"
        "  - {name: bill_b, kind: focus, path: 'b/{date}.csv'}\n"
    )
    return load_settings(tmp_path / "apportion.yaml")


def test_a_source_that_fails_to_land_is_reported_and_its_day_staged_without_it(tmp_path, monkeypatch):
    settings = two_sources(tmp_path)
    lake = Lake(settings.app.lake)
    land_day(settings, DAYS[1])  # an earlier landing of the day, which must not be staged after the failure
    real = assets.raw.local_files

    def local_files(source, base, day):
        if (source.name, day) == ("bill_b", DAYS[1]):
            raise OSError("share unmounted")
        return real(source, base, day)

    monkeypatch.setattr(assets.raw, "local_files", local_files)
    landing = land_days(settings, DAYS)
    assert landing.files == {"bill_a": 2, "bill_b": 1}
    assert landing.failures == [(DAYS[1], "bill_b", "OSError: share unmounted")]
    assert not lake.manifest_file("bill_b", DAYS[1]).exists()

    result = stage_landed_days(settings, DAYS)
    assert result.rows["cost_lines"] == 3
    assert result.files_by_source == {"bill_a": 2, "bill_b": 1}
    costs = {
        day: sorted((r["x_Source"], r["EffectiveCost"]) for r in staged(settings, "cost_lines", day)) for day in DAYS
    }
    assert costs == {
        DAYS[0]: [("bill_a", Decimal("1.50")), ("bill_b", Decimal("10.00"))],
        DAYS[1]: [("bill_a", Decimal("2.25"))],
    }


def test_a_day_no_source_landed_is_an_error_naming_it(tmp_path):
    settings = two_sources(tmp_path)
    with pytest.raises(FileNotFoundError, match="no raw manifest for source bill_a on 2026-11-02: land the day first"):
        stage_landed_days(settings, [DAYS[1]])
