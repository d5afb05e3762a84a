"""Sources → raw → staging, day by day.

`land_day` keeps a byte-for-byte copy of every file a source offers for the day and writes the day's manifest.
`stage_days` reads those raw files with the source's kind, casts them (rejects go to quarantine with file, row,
column and reason) and writes the day's `cost_lines`, `usage_events`, `usage_metrics`, `quarantine` and
`ingest_log` partitions, one Parquet file per source.
"""

import glob as globlib
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import duckdb

from assets.allocation.rules import Params, cost_category_sql
from assets.ingest import SOURCE_KINDS
from assets.ingest.base import Fetched, SourceKind
from assets.ingest.readers import UnreadableFile
from assets.ingest.validate import cast_table, staged_and_rejected
from assets.lake import Lake, land_file, replace_partition, write_parquet
from assets.schemas import COST_LINES, USAGE_EVENTS, USAGE_METRICS
from assets.spread import spread_lines
from assets.sql import connect, load_sql, run_model, run_sql
from pipelines.config import Settings, Source
from pipelines.partitions import daily
from pipelines.resources import ApportionConfig, partition_days

SCHEMA = {"cost_lines": COST_LINES, "usage_events": USAGE_EVENTS, "usage_metrics": USAGE_METRICS}
DATE_COLUMN = {
    "cost_lines": "ChargePeriodStart",
    "usage_events": "event_time",
    "usage_metrics": "metric_time",
}
STAGING_TABLES = ("cost_lines", "usage_events", "usage_metrics", "quarantine", "ingest_log")


def source_files(source: Source, base: Path, day: date) -> list[Path]:
    """The files a source offers for `day`: its path with `{date}` filled in, as a file, a folder or a glob."""
    pattern = source.path.replace("{date}", day.isoformat())
    path = Path(pattern) if Path(pattern).is_absolute() else base / pattern
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
    """Land every source's files for `day` in raw and write the day's manifests; returns files per source.
    A remote source's kind fetches its files first (into a scratch folder that is removed afterwards); a kind whose
    files can carry prompt text lands a redacted copy (`redacted` in the manifest)."""
    lake = Lake(settings.app.lake)
    landed: dict[str, int] = {}
    con = connect()
    for source in settings.app.sources:
        kind = SOURCE_KINDS[source.kind]
        with tempfile.TemporaryDirectory(dir=lake.tmp_dir()) as workdir:
            if kind.fetch:
                fetched = kind.fetch(_with_local_path_resolved(source, settings.root), day, Path(workdir))
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
        landed[source.name] = len(rows)
    con.close()
    return landed


def manifest_files(lake: Lake, source: str, day: date) -> list[Path]:
    """The raw files the day's manifest lists for `source` (empty when the source had none that day)."""
    manifest = lake.manifest_file(source, day)
    if not manifest.exists():
        raise FileNotFoundError(f"no raw manifest for source {source} on {day}: land the day first")
    con = connect()
    names = [r[0] for r in con.execute("select raw_file from read_parquet($f)", {"f": str(manifest)}).fetchall()]
    con.close()
    return [lake.raw_dir(source) / name for name in names]


@dataclass
class StageResult:
    rows: dict[str, int]
    files_by_source: dict[str, int]
    unbalanced_files: list[str]


def register_fx_rates(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """The configured FX rates as the temp table `fx_rates(rate_date, currency, rate)`."""
    con.execute("create or replace temp table fx_rates (rate_date date, currency varchar, rate decimal(38, 10))")
    if settings.fx_rates:
        con.executemany("insert into fx_rates values (?, ?, ?)", list(settings.fx_rates))


def read_files(con: duckdb.DuckDBPyConnection, kind: SourceKind, files: list[Path], options: dict) -> None:
    """Parse and cast each file once, in order, into the temp table `src_typed`
    (`assets.ingest.validate.cast_table`); list the files read in `files_read` (one with no record too), and those
    that could not be parsed at all (a truncated gzip, a CSV whose rows do not split, bytes that are not UTF-8) in
    `unreadable(source_file, reason)`: they are quarantined whole, the other files go on. Rows stay in file order,
    so what is staged from them needs no sort to be written the same way twice."""
    con.execute("create or replace temp table unreadable (source_file varchar, reason varchar)")
    con.execute("create or replace temp table files_read (_file varchar)")
    schema = SCHEMA[kind.target]
    text = ", ".join(f'null::varchar as "{c.name}"' for c in schema)
    con.execute(f"create or replace temp view src_none as select null::varchar as _file, 0 as _row, {text} limit 0")
    cast_table(con, "src_none", schema, "src_typed", checks=kind.checks)
    for path in files:
        try:
            kind.read(con, [path], "src_records", options)
            cast_table(con, "src_records", schema, "src_typed", checks=kind.checks, append=True)
            con.execute("insert into files_read values ($f)", {"f": str(path)})
        except (duckdb.Error, UnreadableFile) as exc:
            reason = f"unreadable file: {str(exc).strip().splitlines()[0][:300]}"
            con.execute("insert into unreadable values ($f, $r)", {"f": path.name, "r": reason})


def _stage_source(
    con: duckdb.DuckDBPyConnection, settings: Settings, source: Source, files: list[Path], day: date
) -> dict[str, str]:
    """Read and cast one source's files; returns the SQL (by staging table) selecting its rows for `day`."""
    kind = SOURCE_KINDS[source.kind]
    read_files(con, kind, files, source.options)
    date_expr = f'"{DATE_COLUMN[kind.target]}"::date'
    staged_and_rejected(con, "src_typed", SCHEMA[kind.target], out_prefix="src", date_expr=date_expr)
    params = {"charge_date": day, "event_date": day, "metric_date": day, "source": source.name}
    queries: dict[str, str] = {}
    if kind.target == "cost_lines":
        register_fx_rates(con, settings)
        spread_lines(con, settings, source, day)
        run_model(
            con,
            "staging/cost_lines",
            {
                **params,
                "reporting_currency": settings.app.reporting_currency,
                "max_fx_age_days": settings.app.max_fx_age_days,
            },
        )
        category = Params()
        category_sql = cost_category_sql(settings.allocation.cost_categories, category)
        run_sql(
            con,
            "create or replace temp table cost_lines_day_src as select * exclude (_file, _row, reject_reason) "
            f"replace ({category_sql} as x_CostCategory), parse_filename(_file) as x_SourceFile, _row as x_SourceRow "
            "from cost_lines_candidates l where reject_reason is null order by x_LineId",
            category.values,
        )
        run_model(con, "staging/day_rejected_cost_lines")
        queries["cost_lines"] = "select * from cost_lines_day_src"
    elif kind.target == "usage_events":
        run_model(con, "staging/usage_events_duplicates", params)
        run_model(con, "staging/day_rejected_usage")
        queries["usage_events"] = load_sql("staging/usage_events")
    else:
        con.execute(
            "create or replace temp view day_rejected as select null::varchar as source_file, "
            "null::bigint as source_row, null::varchar as column_name, null::varchar as reason, "
            "null::varchar as raw_value where false"
        )
        queries[kind.target] = load_sql(f"staging/{kind.target}")
    queries["quarantine"] = load_sql("staging/quarantine")
    queries["ingest_log"] = load_sql("staging/ingest_log")
    return queries


def stage_day(settings: Settings, day: date) -> StageResult:
    """Write the staging partitions of `day` for every configured source."""
    return stage_days(settings, [day])


def stage_days(settings: Settings, days: list[date]) -> StageResult:
    """Write the staging partitions of `days` for every configured source. Sources spread by a usage driver go
    last, after every other source of every day, so their driver holds the usage of all the days staged here."""
    lake = Lake(settings.app.lake)
    rows = dict.fromkeys(STAGING_TABLES, 0)
    written: dict[tuple[str, date], set[str]] = {(t, d): set() for t in STAGING_TABLES for d in days}
    files_by_source: dict[str, int] = {}
    unbalanced: list[str] = []
    first = [s for s in settings.app.sources if s.spread.method != "usage"]
    last = [s for s in settings.app.sources if s.spread.method == "usage"]
    for source, day in [(s, d) for group in (first, last) for d in days for s in group]:
        files = manifest_files(lake, source.name, day)
        files_by_source[source.name] = files_by_source.get(source.name, 0) + len(files)
        if not files:
            continue
        # files are read in manifest order and their rows kept in that order (see `read_files`)
        con = connect(memory_limit=settings.app.memory_limit, temp_directory=lake.tmp_dir(), keep_order=True)
        queries = _stage_source(con, settings, source, files, day)
        params = {
            "charge_date": day,
            "event_date": day,
            "metric_date": day,
            "source": source.name,
            "kind": source.kind,
            # undated rejects belong to this day when its files are the day's own (a {date} path, a fetch)
            "undated_here": "{date}" in source.path or SOURCE_KINDS[source.kind].fetch is not None,
        }
        for table, query in queries.items():
            target = lake.partition_file(table, day, source.name)
            rows[table] += write_parquet(con, query, target, params)
            written[(table, day)].add(target.name)
        unbalanced += [
            r[0]
            for r in con.execute(
                "select source_file from read_parquet($f) where not balanced",
                {"f": str(lake.partition_file("ingest_log", day, source.name))},
            ).fetchall()
        ]
        con.close()
    for table, day in written:
        replace_partition(lake.partition_dir(table, day), written[(table, day)])
    return StageResult(rows=rows, files_by_source=files_by_source, unbalanced_files=unbalanced)


@dg.asset(
    partitions_def=daily,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="raw",
    kinds={"parquet"},
    description="Byte-for-byte copies of every source file of the day, with a manifest per source and day.",
)
def raw_files(context: dg.AssetExecutionContext, apportion: ApportionConfig) -> dg.MaterializeResult:
    settings = apportion.settings()
    landed: dict[str, int] = {}
    for day in partition_days(context):
        for source, files in land_day(settings, day).items():
            landed[source] = landed.get(source, 0) + files
    return dg.MaterializeResult(metadata={f"files/{s}": n for s, n in landed.items()})


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "cost_lines",
            deps=["raw_files"],
            group_name="staging",
            kinds={"parquet"},
            description="Cost lines in FOCUS names, DECIMAL money, UTC; one row per line and charge day.",
        ),
        dg.AssetSpec(
            "usage_events",
            deps=["raw_files"],
            group_name="staging",
            kinds={"parquet"},
            description="One row per model call; prompt text never stored, only its hash.",
        ),
        dg.AssetSpec(
            "usage_metrics",
            deps=["raw_files"],
            group_name="staging",
            kinds={"parquet"},
            description="Generic allocation drivers: vector queries, GPU-seconds, bytes out.",
        ),
        dg.AssetSpec(
            "quarantine",
            deps=["raw_files"],
            group_name="staging",
            kinds={"parquet"},
            description="Rejected rows with file, row, column and reason.",
        ),
    ],
    partitions_def=daily,
    backfill_policy=dg.BackfillPolicy.single_run(),
    can_subset=False,
)
def staging_tables(context: dg.AssetExecutionContext, apportion: ApportionConfig):
    settings = apportion.settings()
    result = stage_days(settings, partition_days(context))
    if result.unbalanced_files:
        raise RuntimeError(f"rows in != rows staged + rows quarantined for: {', '.join(result.unbalanced_files)}")
    for table in ("cost_lines", "usage_events", "usage_metrics", "quarantine"):
        yield dg.MaterializeResult(asset_key=table, metadata={"rows": result.rows[table]})
