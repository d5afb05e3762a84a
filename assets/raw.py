"""Sources → raw: every file a source offers for a day, kept byte for byte, with a manifest per source and day.

`land_day` keeps a byte-for-byte copy of every file a source offers for the day (named by its content) and writes
the day's manifest; `land_days` does so for several days, one source's failure never stopping the others;
`manifest_files` lists what a landed day holds, for staging to read.
"""

import glob as globlib
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from assets.config import Settings, Source
from assets.ingest import SOURCE_KINDS
from assets.ingest.base import Fetched
from assets.lake import Lake, atomic_path, land_file, write_parquet
from assets.sql import connect


def _local_path(source: Source, base: Path, day: date) -> Path:
    """A local source's path for `day`: `{date}` filled in, resolved against the config's folder."""
    pattern = source.path.replace("{date}", day.isoformat())
    return Path(pattern) if Path(pattern).is_absolute() else base / pattern


def source_files(source: Source, base: Path, day: date) -> list[Path]:
    """The files a source offers for `day`: its path with `{date}` filled in, as a file, a folder or a glob."""
    path = _local_path(source, base, day)
    if globlib.has_magic(str(path)):
        found = [Path(p) for p in globlib.glob(str(path), recursive=True)]
    elif path.is_dir():
        found = list(path.rglob("*"))
    else:
        found = [path] if path.exists() else []
    return sorted(p for p in found if p.is_file() and not p.name.startswith("."))


def local_files(source: Source, base: Path, day: date) -> list[Fetched]:
    """What a local source offers for `day`, as fetched files."""
    return [
        Fetched(path, str(path), datetime.fromtimestamp(path.stat().st_mtime, UTC))
        for path in source_files(source, base, day)
    ]


def _with_local_path_resolved(source: Source, base: Path) -> Source:
    """A fetcher gets local paths (not `s3://`, `https://`, …) resolved against the config's folder."""
    if "://" in source.path or Path(source.path).is_absolute():
        return source
    return source.model_copy(update={"path": str(base / source.path)})


def _origin(origin: str, base: Path) -> str:
    """Where a landed file came from, as the manifest records it: a URL as it is, a local path relative to the
    config's folder when inside it, so that a manifest does not depend on where the project is checked out."""
    if "://" in origin or not Path(origin).is_relative_to(base):
        return origin
    return str(Path(origin).relative_to(base))


def land_day(settings: Settings, day: date) -> dict[str, int]:
    """Land every source's files for `day` in raw and write the day's manifests; returns files per source. The
    first source that fails raises (`land_days` lands the others and reports it instead)."""
    lake = Lake(settings.app.lake)
    with connect() as con:
        return {source.name: _land_source(settings, lake, con, source, day) for source in settings.app.sources}


@dataclass
class Landing:
    """What `land_days` did: files landed per source over the days, and each source day that failed to land."""

    files: dict[str, int]
    failures: list[tuple[date, str, str]]
    """(day, source, reason) for each source whose landing raised on that day."""


def land_days(settings: Settings, days: Iterable[date]) -> Landing:
    """Land every source of every day, each on its own: a source whose fetch or copy fails is reported in
    `failures` and its day's manifest removed, so that staging leaves it out of that day (rather than stage an
    older landing) while the day's other sources go on (`assets.staging.stage_landed_days`)."""
    lake = Lake(settings.app.lake)
    landing = Landing(dict.fromkeys((s.name for s in settings.app.sources), 0), [])
    with connect() as con:
        for day in days:
            for source in settings.app.sources:
                try:
                    landing.files[source.name] += _land_source(settings, lake, con, source, day)
                except Exception as exc:  # whatever a fetch or a copy raises, the other sources go on
                    lake.manifest_file(source.name, day).unlink(missing_ok=True)
                    landing.failures.append((day, source.name, f"{type(exc).__name__}: {str(exc).strip()}"))
    return landing


def _land_source(settings: Settings, lake: Lake, con: duckdb.DuckDBPyConnection, source: Source, day: date) -> int:
    """Land one source's files for `day` and write its manifest; returns the number of files. A remote source's
    kind fetches its files first (into a scratch folder that is removed afterwards); a kind whose files can carry
    prompt text lands a redacted copy (`redacted` in the manifest)."""
    kind = SOURCE_KINDS[source.kind]
    resolved = _with_local_path_resolved(source, settings.root)
    fetches = kind.fetch is not None and not (kind.reads_files and kind.reads_files(resolved))
    with tempfile.TemporaryDirectory(dir=lake.tmp_dir()) as workdir:
        if kind.fetch and fetches:
            fetched = kind.fetch(resolved, day, Path(workdir))
        else:
            fetched = local_files(source, settings.root, day)
        rows = []
        for item in fetched:
            path = item.path
            if kind.redact:
                path = Path(workdir) / "redacted" / item.path.name
                path.parent.mkdir(exist_ok=True)
                kind.redact(item.path, path)
            raw, checksum = land_file(path, lake.raw_dir(source.name))
            rows.append(
                (
                    source.name,
                    day,
                    _origin(item.origin, settings.root),
                    raw.name,
                    checksum,
                    raw.stat().st_size,
                    item.modified_at,
                    bool(kind.redact),
                )
            )
    con.execute(
        "create or replace temp table manifest (source varchar, day date, source_path varchar, raw_file varchar, "
        "sha256 varchar, bytes bigint, modified_at timestamptz, redacted boolean)"
    )
    if rows:
        con.executemany("insert into manifest values (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    write_parquet(con, "select * from manifest order by raw_file", lake.manifest_file(source.name, day))
    looked_at = resolved.path if fetches else str(_local_path(source, settings.root, day))
    _record_found_nothing(lake, source, day, None if rows else found_nothing(settings, source, day, looked_at))
    return len(rows)


def found_nothing(settings: Settings, source: Source, day: date, looked_at: str) -> str:
    """In plain words: the day found nothing, where it looked, what the kind expected there, what to change."""
    kind = SOURCE_KINDS[source.kind]
    if kind.expects:
        expected = kind.expects(source)
    elif kind.fetch:
        expected = f"what a {kind.name} source offers for the day"
    else:
        expected = "a file, a folder of files or a glob; `{date}` in the path stands for the day as YYYY-MM-DD"
    return (
        f"found nothing for {day} at {looked_at}: expected {expected}. "
        f"The setting: `path` (or `options`) of source {source.name} in {settings.path.name}"
    )


def _record_found_nothing(lake: Lake, source: Source, day: date, reason: str | None) -> None:
    target = lake.found_nothing_file(source.name, day)
    if reason is None:
        target.unlink(missing_ok=True)
        return
    with atomic_path(target) as tmp:
        tmp.write_text(reason + "\n", encoding="utf-8")


def found_nothing_reason(lake: Lake, source: str, day: date) -> str | None:
    """Why the landed day of `source` holds no file, as `land_day` said it; None when it holds some."""
    target = lake.found_nothing_file(source, day)
    return target.read_text(encoding="utf-8").strip() if target.exists() else None


def manifest_entries(lake: Lake, source: str, day: date) -> list[tuple[str, str]]:
    """(raw file name, sha256) of each file the day's manifest lists for `source`, in its order (by name)."""
    manifest = lake.manifest_file(source, day)
    if not manifest.exists():
        raise FileNotFoundError(f"no raw manifest for source {source} on {day}: land the day first")
    with connect() as con:
        query = "select raw_file, sha256 from read_parquet($f) order by raw_file"
        return [(r[0], r[1]) for r in con.execute(query, {"f": str(manifest)}).fetchall()]


def manifest_files(lake: Lake, source: str, day: date) -> list[Path]:
    """The raw files the day's manifest lists for `source` (empty when the source had none that day)."""
    return [lake.raw_dir(source) / name for name, _ in manifest_entries(lake, source, day)]
