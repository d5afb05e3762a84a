"""Azure Cost Management exports (`azure_export`): ActualCost and AmortizedCost exports, CSV, CSV.gz or Parquet,
in every column set Azure has written, mapped by `assets.ingest.azure_columns`. The FOCUS export (`FocusCost`) has
FOCUS columns and is read by kind `focus`.

The path of an `azure_export` source is the export's folder, the one that holds the `YYYYMMDD-YYYYMMDD` month
folders: `https://<account>.blob.core.windows.net/<container>/<dir>/<export>` (read with DefaultAzureCredential) or
a local folder with the same layout. Each run of an export writes a complete copy of its month under a new run
folder, so `fetch` takes only the latest run's `manifest.json` (by last-modified) for the month of the day and
exactly the blobs it lists, checking their byte and row counts. The manifest is landed in raw with the data and
skipped when reading.

**A file downloaded by hand** (Cost analysis → Download, or a file an export wrote, copied somewhere) has no run
folder and no manifest: pointed at directly, it is read as it is, every day, keeping the rows of the day.
`options.layout` says which: `export` (the layout above), `files` (the path is a file, a folder of files or a glob,
`{date}` allowed, listed like any local source), or `auto` (default): a URL, or a local folder holding
`YYYYMMDD-YYYYMMDD` period folders, is an export; a file, a glob, a path with `{date}`, or a folder of cost files
(`.csv`, `.csv.gz`, `.parquet`) without period folders is files.
"""

from __future__ import annotations

import glob
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

import duckdb

from assets.ingest.azure_auth import LOOPBACK, credential_chain
from assets.ingest.azure_columns import CHECKS, azure_select
from assets.ingest.base import Fetched, SourceKind
from assets.ingest.options import KindOptions, options_as
from assets.ingest.readers import (
    UnreadableFile,
    create_view,
    declared_csv_records,
    file_format,
    parquet_records,
    relation_columns,
)
from assets.schemas import COST_LINES
from assets.sql import connect

MANIFEST = "manifest.json"

_MONTH_FOLDER = re.compile(r"^(\d{8})-(\d{8})$")
"""An export's period folder, `YYYYMMDD-YYYYMMDD` (both days included)."""

_COST_FILE = re.compile(r"(?i)\.(csv|csv\.gz|parquet)$")
"""The names of the files an export or a download holds."""


class ExportOptions(KindOptions):
    """`options` of an `azure_export` source."""

    layout: Literal["auto", "export", "files"] = "auto"
    """`export`: run folders with a manifest; `files`: files read as they are (see the module docstring)."""


def export_options(source: Any) -> ExportOptions:
    return options_as(ExportOptions, source.options, source.name)


def reads_files(source: Any) -> bool:
    """Whether the source's path names cost files to read as they are rather than an export's run folders."""
    layout = export_options(source).layout
    if layout != "auto":
        return layout == "files"
    if urlsplit(source.path).scheme in ("http", "https"):
        return False
    if "{date}" in source.path or glob.has_magic(source.path) or _COST_FILE.search(source.path):
        return True
    path = Path(source.path)
    if not path.is_dir():
        return path.is_file()
    children = list(path.iterdir())
    if any(c.is_dir() and _MONTH_FOLDER.match(c.name) for c in children):
        return False
    return any(c.is_file() and _COST_FILE.search(c.name) for c in children)


def expects(source: Any) -> str:
    """What an `azure_export` source expected at its path, by the layout it was read with."""
    if reads_files(source):
        return (
            "Azure cost files (.csv, .csv.gz or .parquet, as downloaded from the portal) at that path: a file, a "
            "folder of them or a glob, `{date}` standing for the day as YYYY-MM-DD"
        )
    return (
        f"an export run folder <path>/<YYYYMMDD-YYYYMMDD>/<run>/ holding {MANIFEST} and the files it lists, for a "
        "period covering the day; for a file downloaded by hand, set `path` to the file (or a glob) or "
        "options.layout: files"
    )


def is_manifest(path: Path) -> bool:
    """A run's `manifest.json` (landed in raw as `<checksum>-manifest.json`)."""
    return path.name == MANIFEST or path.name.endswith(f"-{MANIFEST}")


def read_azure_export(con: duckdb.DuckDBPyConnection, files: list[Path], view: str, options: Mapping[str, Any]) -> None:
    """Files may mix column sets and formats; each is mapped on its own columns. Manifests are skipped."""
    selects = []
    for path in files:
        if is_manifest(path):
            continue
        if not _COST_FILE.search(path.name):
            raise UnreadableFile(f"{path.name}: not an Azure cost file (.csv, .csv.gz or .parquet)")
        relation = declared_csv_records(path) if file_format(path) == "csv" else parquet_records(path)
        selects.append(azure_select(path, relation, relation_columns(con, relation)))
    create_view(con, view, COST_LINES, selects)


@dataclass(frozen=True)
class Entry:
    """A file of an export, named relative to the export's folder (`<month>/<run…>/<file>`)."""

    name: str
    size: int
    modified_at: datetime


class ExportStore(Protocol):
    """Where an export's runs are: the period folders, the files under one, a local copy of a file."""

    def month_folders(self) -> list[str]: ...
    def entries(self, folder: str) -> list[Entry]: ...
    def get(self, name: str, workdir: Path) -> Path: ...
    def origin(self, name: str) -> str: ...
    def close(self) -> None: ...


class LocalExport:
    """An export folder on local disk (or a mounted share): files are read where they are."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: export folder does not exist")
        self.root = root

    def month_folders(self) -> list[str]:
        return [p.name for p in self.root.iterdir() if p.is_dir()]

    def entries(self, folder: str) -> list[Entry]:
        return [
            Entry(p.relative_to(self.root).as_posix(), p.stat().st_size, datetime.fromtimestamp(p.stat().st_mtime, UTC))
            for p in (self.root / folder).rglob("*")
            if p.is_file()
        ]

    def get(self, name: str, workdir: Path) -> Path:
        return self.root / name

    def origin(self, name: str) -> str:
        return str(self.root / name)

    def close(self) -> None:
        pass


class BlobExport:
    """An export folder in a storage container, read with DefaultAzureCredential (the identity needs the Storage
    Blob Data Reader role). A loopback `http://127.0.0.1:<port>/<account>/<container>/…` path (an emulator) is read
    without credentials: a token never travels over plain http."""

    def __init__(self, url: str) -> None:
        from azure.storage.blob import ContainerClient  # the SDK loads only when a container is read

        parts = urlsplit(url)
        if parts.query:
            raise ValueError(
                f"{parts.scheme}://{parts.netloc}{parts.path}: remove the query (a SAS token?) from the path: "
                "the container is read with DefaultAzureCredential"
            )
        segments = [s for s in parts.path.split("/") if s]
        credential = None
        if parts.scheme == "https":
            account_url = f"https://{parts.netloc}"
            credential = credential_chain()
        elif parts.scheme == "http" and parts.hostname in LOOPBACK and segments:
            account_url = f"http://{parts.netloc}/{segments.pop(0)}"
        else:
            raise ValueError(f"{url}: expected https://<account>.blob.core.windows.net/<container>/<dir>/<export>")
        if len(segments) < 2:
            raise ValueError(f"{url}: expected a container and the export's folder in it")
        self.url = url.rstrip("/")
        self.root = "/".join(segments[1:])
        self.container = ContainerClient(account_url, segments[0], credential=credential)

    def month_folders(self) -> list[str]:
        prefix = f"{self.root}/"
        return [
            item.name[len(prefix) :].rstrip("/")
            for item in self.container.walk_blobs(name_starts_with=prefix, delimiter="/")
            if item.name.endswith("/")
        ]

    def entries(self, folder: str) -> list[Entry]:
        prefix = f"{self.root}/"
        return [
            Entry(b.name[len(prefix) :], b.size, b.last_modified)
            for b in self.container.list_blobs(name_starts_with=f"{prefix}{folder}/")
        ]

    def get(self, name: str, workdir: Path) -> Path:
        target = workdir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as handle:
            self.container.download_blob(f"{self.root}/{name}").readinto(handle)
        return target

    def origin(self, name: str) -> str:
        return f"{self.url}/{name}"

    def close(self) -> None:
        self.container.close()


def export_store(path: str) -> ExportStore:
    return BlobExport(path) if urlsplit(path).scheme in ("http", "https") else LocalExport(Path(path))


def _covers(folder: str, day: date) -> bool:
    match = _MONTH_FOLDER.match(folder)
    if not match:
        return False
    start, end = (datetime.strptime(g, "%Y%m%d").date() for g in match.groups())
    return start <= day <= end


def data_rows(path: Path) -> int | None:
    """Data rows of an export file, read the way `read` reads it; None when it cannot be read at all (staging then
    quarantines it whole, as any unreadable file)."""
    con = connect()
    try:
        relation = declared_csv_records(path) if file_format(path) == "csv" else parquet_records(path)
        return int(con.execute(f"select count(*) from {relation}").fetchall()[0][0])
    except (duckdb.Error, UnreadableFile):
        return None
    finally:
        con.close()


def fetch_from_store(store: ExportStore, day: date, workdir: Path) -> list[Fetched]:
    """The latest complete run of the export for the month of `day`: its manifest and every blob it lists, each
    checked against the manifest's byte and row counts."""
    folders = [f for f in store.month_folders() if _covers(f, day)]
    entries = {e.name: e for folder in folders for e in store.entries(folder)}
    manifests = [e for e in entries.values() if e.name.rsplit("/", 1)[-1] == MANIFEST]
    if not manifests:
        if folders:
            raise FileNotFoundError(
                f"{store.origin(folders[0])}: no {MANIFEST} in the month's runs: turn on file partitioning "
                "for the export, so that each run writes a manifest"
            )
        return []
    latest = max(manifests, key=lambda e: (e.modified_at, e.name))
    manifest_path = store.get(latest.name, workdir)
    where = store.origin(latest.name)
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8-sig"))
        blobs = [(b["blobName"], int(b["byteCount"]), int(b["dataRowCount"])) for b in manifest["blobs"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{where}: not an export manifest ({exc!r})") from exc
    month = latest.name.split("/", 1)[0]
    fetched = [Fetched(manifest_path, where, latest.modified_at)]
    for blob_name, byte_count, row_count in blobs:
        at = blob_name.find(f"{month}/")
        entry = entries.get(blob_name[at:]) if at >= 0 else None
        if entry is None:
            raise FileNotFoundError(f"{where}: lists {blob_name}, which is not in the export")
        path = store.get(entry.name, workdir)
        origin = store.origin(entry.name)
        if path.stat().st_size != byte_count:
            raise ValueError(f"{origin}: {path.stat().st_size} bytes, the manifest says {byte_count}")
        rows = data_rows(path)
        if rows is not None and rows != row_count:
            raise ValueError(f"{origin}: {rows} data rows, the manifest says {row_count}")
        fetched.append(Fetched(path, origin, entry.modified_at))
    expected = manifest.get("dataRowCount")
    if expected is not None and int(expected) != sum(b[2] for b in blobs):
        raise ValueError(f"{where}: blobs hold {sum(b[2] for b in blobs)} rows, the manifest says {expected}")
    return fetched


def fetch_azure_export(source: Any, day: date, workdir: Path) -> list[Fetched]:
    store = export_store(source.path)
    try:
        return fetch_from_store(store, day, workdir)
    finally:
        store.close()


AZURE_EXPORT = SourceKind(
    "azure_export",
    "cost_lines",
    read_azure_export,
    CHECKS,
    fetch_azure_export,
    reads_files=reads_files,
    expects=expects,
    options_model=ExportOptions,
)
