"""A CUR downloaded by hand: `aws_cur` reads the file, glob or folder `path` names when there is no export layout
(`options.layout: auto`, the default) or when told so (`layout: files`); an export's folders go through the manifest.
Both are landed by `land_day`, which fetches an export and lists downloaded files as a local kind's."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from assets.config import load_settings
from assets.lake import Lake
from assets.raw import land_day
from assets.sql import connect
from tests.unit.test_aws_cur_mapping import legacy_csv, legacy_line

DAY = date(2025, 1, 15)


def landed(tmp_path: Path, path: Path | str, options: str = "{}") -> list[str]:
    """The origins of the files `land_day` lands for an `aws_cur` source at `path`, as its manifest lists them."""
    (tmp_path / "allocation.yaml").write_text("rules: []\n")
    (tmp_path / "apportion.yaml").write_text(
        "allocation: allocation.yaml\nprices: null\n"
        f"sources:\n  - {{name: aws_bill, kind: aws_cur, path: '{path}', options: {options}}}\n"
    )
    settings = load_settings(tmp_path / "apportion.yaml")
    land_day(settings, DAY)
    with connect() as con:
        rows = con.execute(
            "select source_path from read_parquet($f) order by source_path",
            {"f": str(Lake(settings.app.lake).manifest_file("aws_bill", DAY))},
        ).fetchall()
    return [r[0] for r in rows]


def fetched(tmp_path: Path, path: Path | str, options: str = "{}") -> list[str]:
    return sorted(Path(origin).name for origin in landed(tmp_path, path, options))


def downloads(folder: Path) -> Path:
    """A folder of CUR files as a user downloads them: no manifest, no period folders."""
    legacy_csv(folder / "january-1.csv.gz", [legacy_line()])
    legacy_csv(folder / "january-2.csv", [legacy_line()])
    (folder / ".january-1.csv.gz.crdownload").write_bytes(b"")
    return folder


def test_a_file_a_glob_or_a_folder_without_manifest_is_read_as_downloaded(tmp_path: Path) -> None:
    folder = downloads(tmp_path / "downloads")
    assert fetched(tmp_path, folder / "january-2.csv") == ["january-2.csv"]
    assert fetched(tmp_path, folder / "*.csv.gz") == ["january-1.csv.gz"]
    assert fetched(tmp_path, tmp_path / "downloads" / "**" / "january-*") == ["january-1.csv.gz", "january-2.csv"]
    assert fetched(tmp_path, folder) == ["january-1.csv.gz", "january-2.csv"]
    # relative to the config's folder, as the manifest records a local origin
    assert landed(tmp_path, "downloads/*.csv") == ["downloads/january-2.csv"]


def test_an_export_folder_goes_through_its_manifest_unless_told_the_files_are_downloads(tmp_path: Path) -> None:
    export = tmp_path / "cur" / "ai-costs"
    listed = legacy_csv(export / "20250101-20250201" / "asm-2" / "ai-costs-00001.csv.gz", [legacy_line()])
    legacy_csv(export / "20250101-20250201" / "asm-1" / "ai-costs-00001.csv.gz", [legacy_line()])  # older delivery
    (export / "20250101-20250201" / "ai-costs-Manifest.json").write_text(
        json.dumps({"reportKeys": [f"cur/ai-costs/{listed.relative_to(export).as_posix()}"]})
    )
    assert landed(tmp_path, export) == [
        "cur/ai-costs/20250101-20250201/ai-costs-Manifest.json",
        "cur/ai-costs/20250101-20250201/asm-2/ai-costs-00001.csv.gz",
    ]
    # every file, older deliveries too: files are meant for one download of a period, not an export's folders
    assert landed(tmp_path, export, "{layout: files}") == [
        "cur/ai-costs/20250101-20250201/ai-costs-Manifest.json",
        "cur/ai-costs/20250101-20250201/asm-1/ai-costs-00001.csv.gz",
        "cur/ai-costs/20250101-20250201/asm-2/ai-costs-00001.csv.gz",
    ]
    assert landed(tmp_path, downloads(tmp_path / "downloads"), "{layout: export}") == []


def test_downloaded_files_are_local(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="layout files reads local files; use layout export"):
        landed(tmp_path, "s3://bucket/cur/ai-costs", "{layout: files}")
    with pytest.raises(ValueError, match="layout"):
        landed(tmp_path, tmp_path, "{layout: manifest}")
