"""Saved admin-API pages: a day whose last saved page says more pages follow is incomplete, never taken as whole."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from assets.allocation.engine import allocate
from assets.config import load_settings
from assets.marts.facts import build_marts
from assets.pricing import price_day
from assets.raw import land_day
from assets.sql import connect
from assets.staging import stage_day
from tests.unit.test_staging import staged

DAY = date(2024, 11, 1)
START, END = 1730419200, 1730505600


def usage_page(input_tokens: int, has_more: bool, next_page: str | None) -> str:
    result = {
        "object": "organization.usage.completions.result",
        "input_tokens": input_tokens,
        "output_tokens": 500,
        "input_cached_tokens": 0,
        "num_model_requests": 5,
        "model": "gpt-4o-mini-2024-07-18",
    }
    bucket = {"object": "bucket", "start_time": START, "end_time": END, "results": [result]}
    return json.dumps({"object": "page", "data": [bucket], "has_more": has_more, "next_page": next_page})


def run_pages(tmp_path: Path, pages: dict[str, str]) -> tuple[list[dict], list[tuple]]:
    folder = tmp_path / "openai" / DAY.isoformat()
    folder.mkdir(parents=True)
    for name, body in pages.items():
        (folder / name).write_text(body)
    (tmp_path / "allocation.yaml").write_text("rules: []\n")
    (tmp_path / "apportion.yaml").write_text(
        "allocation: allocation.yaml\nprices: null\n"
        "sources:\n  - {name: openai_usage, kind: openai_usage, path: 'openai/{date}'}\n"
    )
    settings = load_settings(tmp_path / "apportion.yaml")
    land_day(settings, DAY)
    stage_day(settings, DAY)
    price_day(settings, DAY)
    allocate(settings, DAY)
    build_marts(settings, DAY)
    with connect() as con:
        reconciliation = con.execute(
            "select source, files, rows_quarantined, complete from read_parquet($f)",
            {"f": str(settings.app.lake / "marts" / "reconciliation" / "*" / "*.parquet")},
        ).fetchall()
    return staged(settings, "quarantine", DAY), reconciliation


def test_a_page_set_whose_last_page_says_has_more_makes_the_day_incomplete_naming_the_page(tmp_path: Path) -> None:
    quarantine, reconciliation = run_pages(
        tmp_path,
        {
            "completions-0001.json": usage_page(1000, True, "page_AAAA"),
            "completions-0002.json": usage_page(2000, True, "page_BBBB"),
        },
    )
    assert [(r["source_file"][17:], r["source_row"], r["column_name"], r["reason"]) for r in quarantine] == [
        (
            "completions-0002.json",
            None,
            "has_more",
            "incomplete page set: page 2 is the last saved but says more follow (next_page page_BBBB); "
            "the day's later pages are missing",
        )
    ]
    assert reconciliation == [("openai_usage", 2, 1, False)]


def test_a_page_set_that_ends_is_complete(tmp_path: Path) -> None:
    quarantine, reconciliation = run_pages(
        tmp_path,
        {
            "completions-0001.json": usage_page(1000, True, "page_AAAA"),
            "completions-0002.json": usage_page(2000, False, None),
        },
    )
    assert (quarantine, reconciliation) == ([], [("openai_usage", 2, 0, True)])
