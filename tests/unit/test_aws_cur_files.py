"""A CUR downloaded by hand: `aws_cur` reads the file, glob or folder `path` names when there is no export layout
(`options.layout: auto`, the default) or when told so (`layout: files`); an export's folders go through the manifest."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from assets.config import Source
from assets.ingest.aws_cur import fetch_cur
from tests.unit.test_aws_cur_mapping import legacy_csv, legacy_line

DAY = date(2025, 1, 15)


def source(path: Path | str, **options: str) -> Source:
    return Source(name="aws_bill", kind="aws_cur", path=str(path), options=options)


def fetched(path: Path | str, **options: str) -> list[str]:
    return [Path(f.origin).name for f in fetch_cur(source(path, **options), DAY, Path("/nonexistent"))]


def downloads(folder: Path) -> Path:
    """A folder of CUR files as a user downloads them: no manifest, no period folders."""
    legacy_csv(folder / "january-1.csv.gz", [legacy_line()])
    legacy_csv(folder / "january-2.csv", [legacy_line()])
    (folder / ".january-1.csv.gz.crdownload").write_bytes(b"")
    return folder


def test_a_file_a_glob_or_a_folder_without_manifest_is_read_as_downloaded(tmp_path: Path) -> None:
    folder = downloads(tmp_path / "downloads")
    assert fetched(folder / "january-2.csv") == ["january-2.csv"]
    assert fetched(folder / "*.csv.gz") == ["january-1.csv.gz"]
    assert fetched(tmp_path / "**" / "january-*") == ["january-1.csv.gz", "january-2.csv"]
    assert fetched(folder) == ["january-1.csv.gz", "january-2.csv"]


def test_an_export_folder_goes_through_its_manifest_unless_told_the_files_are_downloads(tmp_path: Path) -> None:
    export = tmp_path / "cur" / "ai-costs"
    listed = legacy_csv(export / "20250101-20250201" / "asm-2" / "ai-costs-00001.csv.gz", [legacy_line()])
    legacy_csv(export / "20250101-20250201" / "asm-1" / "ai-costs-00001.csv.gz", [legacy_line()])  # older delivery
    (export / "20250101-20250201" / "ai-costs-Manifest.json").write_text(
        json.dumps({"reportKeys": [f"cur/ai-costs/{listed.relative_to(export).as_posix()}"]})
    )
    origins = [f.origin for f in fetch_cur(source(export), DAY, tmp_path / "work")]
    assert origins == [str(export / "20250101-20250201" / "ai-costs-Manifest.json"), str(listed)]
    # every file, older deliveries too: files are meant for one download of a period, not an export's folders
    assert fetched(export, layout="files") == [
        "ai-costs-Manifest.json",
        "ai-costs-00001.csv.gz",
        "ai-costs-00001.csv.gz",
    ]
    assert fetched(downloads(tmp_path / "downloads"), layout="export") == []


def test_downloaded_files_are_local(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="layout files reads local files; use layout export"):
        fetch_cur(source("s3://bucket/cur/ai-costs", layout="files"), DAY, tmp_path)
    with pytest.raises(ValueError, match="layout"):
        fetch_cur(source(tmp_path, layout="manifest"), DAY, tmp_path)
