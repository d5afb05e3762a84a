"""Raw → staging, day by day.

`stage_days` reads the raw files a day's manifest lists with the source's kind, casts them (rejects go to quarantine
with file, row, column and reason) and writes the day's `cost_lines`, `usage_events`, `usage_metrics`, `quarantine`
and `ingest_log` partitions, one Parquet file per source.

The files a source landed for a day are a delivery, parsed once for all the days that read it: a month-long CUR or
a bill read without `{date}` is read by every day of its period. The days of a range that share a delivery are
staged from one parse, and a billing delivery's typed rows are cached under `staging/_deliveries/<source>/`, keyed
by content (`delivery_key`), so that the next night's lookback and a backfill load them instead of parsing again.
What stays per day is per day by nature: spreading lines over their days, the day's FX rate, cost categories.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

import duckdb

from assets.ai_lines import ai_lines_sql
from assets.catalog import resolve_catalog_models
from assets.config import Settings, Source
from assets.ingest import SOURCE_KINDS
from assets.ingest.base import SourceKind
from assets.ingest.readers import UnreadableFile
from assets.ingest.records import resolve_providers
from assets.ingest.validate import cast_table, staged_and_rejected
from assets.ingest.vocabulary import normalise_vocabulary
from assets.lake import Lake, replace_partition, write_parquet
from assets.matching import Params, cost_category_sql
from assets.raw import manifest_entries
from assets.schemas import COST_LINES, USAGE_EVENTS, USAGE_METRICS
from assets.spread import spread_lines
from assets.sql import connect, load_sql, run_model, run_sql

SCHEMA = {"cost_lines": COST_LINES, "usage_events": USAGE_EVENTS, "usage_metrics": USAGE_METRICS}
DATE_COLUMN = {
    "cost_lines": "ChargePeriodStart",
    "usage_events": "event_time",
    "usage_metrics": "metric_time",
}
STAGING_TABLES = ("cost_lines", "usage_events", "usage_metrics", "quarantine", "ingest_log")
INGEST_DIR = Path(__file__).resolve().parent / "ingest"
DELIVERY_LAYOUT = 1
"""Bumped when what a cached delivery holds changes shape (see `read_files`)."""


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
    (`assets.ingest.validate.cast_table`), and list every file in `delivery_files(_file, rows_in, unreadable_reason)`:
    `rows_in` is counted apart from the parse (`SourceKind.count_rows`), so a record the reader drops unbalances the
    file. A file that cannot be parsed at all (a truncated gzip, a CSV whose rows do not split, bytes that are not
    UTF-8) gets its reason instead: it is quarantined whole, the other files go on. Rows stay in file order, so what
    is staged from them needs no sort to be written the same way twice. `files_read` and `unreadable` are taken from
    `delivery_files` for the per-day models. Cost lines get FOCUS's values in the columns with allowed values
    (`normalise_vocabulary`; a value with no mapping rejects its line). Usage rows that name no provider get one from
    their model (`resolve_providers`)."""
    con.execute(
        "create or replace temp table delivery_files (_file varchar, rows_in bigint, unreadable_reason varchar)"
    )
    schema = SCHEMA[kind.target]
    text = ", ".join(f'null::varchar as "{c.name}"' for c in schema)
    con.execute(f"create or replace temp view src_none as select null::varchar as _file, 0 as _row, {text} limit 0")
    cast_table(con, "src_none", schema, "src_typed", checks=kind.checks)
    for path in files:
        try:
            kind.read(con, [path], "src_records", options)
            cast_table(con, "src_records", schema, "src_typed", checks=kind.checks, append=True)
            counted = kind.count_rows(con, path)
            if counted is None:
                parsed = "select count(*) from src_typed where _file = $f"
                counted = con.execute(parsed, {"f": str(path)}).fetchall()[0][0]
            con.execute("insert into delivery_files values ($f, $n, null)", {"f": str(path), "n": counted})
        except (duckdb.Error, UnreadableFile) as exc:
            reason = f"unreadable file: {str(exc).strip().splitlines()[0][:300]}"
            con.execute("insert into delivery_files values ($f, 0, $r)", {"f": str(path), "r": reason})
    if kind.target == "cost_lines":
        normalise_vocabulary(con, "src_typed")
    if kind.target == "usage_events":
        resolve_providers(con, "src_typed", options.get("provider"))
    _delivery_views(con, kind)


def _delivery_views(con: duckdb.DuckDBPyConnection, kind: SourceKind) -> None:
    """What every day of the delivery reads besides `src_typed` and `delivery_files`, including the signs that files
    of the day are missing (`SourceKind.incomplete`, read from the files again: API pages are small). `unreadable`
    is a table: DuckDB plans a union with an empty table away, which keeps the partitions' columns as NOT NULL as
    they were."""
    con.execute(
        "create or replace temp table files_read as select _file from delivery_files where unreadable_reason is null"
    )
    con.execute(
        "create or replace temp table unreadable as select parse_filename(_file) as source_file, "
        "unreadable_reason as reason from delivery_files where unreadable_reason is not null"
    )
    con.execute("create or replace temp table incomplete (source_file varchar, column_name varchar, reason varchar)")
    if kind.incomplete is not None:
        files = [Path(r[0]) for r in con.execute("select _file from delivery_files").fetchall()]
        gaps = kind.incomplete(con, files)
        if gaps:
            con.executemany("insert into incomplete values (?, ?, ?)", gaps)
    date_expr = f'"{DATE_COLUMN[kind.target]}"::date'
    money = ("BilledCost", "EffectiveCost", "BillingCurrency") if kind.target == "cost_lines" else None
    staged_and_rejected(con, "src_typed", SCHEMA[kind.target], out_prefix="src", date_expr=date_expr, money=money)


@dataclass(frozen=True)
class Delivery:
    """The raw files a source landed for a day (the files a CUR manifest lists, an export run, a bill read without
    `{date}`), in manifest order, and the key of their parse: the same files read by the same kind, options and
    code give the same typed rows, so a delivery is parsed once however many days and runs read it."""

    files: tuple[Path, ...]
    key: str


@cache
def _code_version() -> str:
    """What the typed rows of a delivery depend on besides its files: the readers, the kinds, the casts, the
    value mappings (`assets/ingest/*.csv`), the schemas, DuckDB. Any change to them parses every delivery again."""
    digest = hashlib.sha256(f"layout {DELIVERY_LAYOUT} duckdb {duckdb.__version__}".encode())
    for path in sorted([*INGEST_DIR.glob("*.py"), *INGEST_DIR.glob("*.csv"), INGEST_DIR.parent / "schemas.py"]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def delivery_key(source: Source, entries: list[tuple[str, str]]) -> str:
    """The key of a delivery: its raw files (name and sha256) with the source's kind and options and the code."""
    content = {"kind": source.kind, "options": source.options, "code": _code_version(), "files": entries}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:32]


def day_delivery(lake: Lake, source: Source, day: date) -> Delivery:
    entries = manifest_entries(lake, source.name, day)
    files = tuple(lake.raw_dir(source.name) / name for name, _ in entries)
    return Delivery(files, delivery_key(source, entries))


def _delivery_paths(lake: Lake, source: str, key: str) -> tuple[Path, Path]:
    """The typed rows of a cached delivery and its file list; the list is written last, so it marks it complete."""
    folder = lake.deliveries_dir(source)
    return folder / f"{key}.parquet", folder / f"{key}.files.parquet"


def load_delivery(con: duckdb.DuckDBPyConnection, lake: Lake, source: Source, delivery: Delivery) -> None:
    """`src_typed` and `delivery_files` of a delivery (see `read_files`): parsed (and cached, for a billing
    delivery), or for a billing delivery parsed before, loaded from its cache."""
    kind = SOURCE_KINDS[source.kind]
    typed, listed = _delivery_paths(lake, source.name, delivery.key)
    if not listed.exists():
        read_files(con, kind, list(delivery.files), source.options)
        if kind.target == "cost_lines":
            # smaller row groups than a partition's: the writer's buffers add less to the parse's peak memory
            write_parquet(con, "select * from src_typed", typed, row_group_size=100_000)
            write_parquet(con, "select * from delivery_files", listed)
        return
    con.execute("create or replace temp table src_typed as select * from read_parquet($f)", {"f": str(typed)})
    con.execute("create or replace temp table delivery_files as select * from read_parquet($f)", {"f": str(listed)})
    _delivery_views(con, kind)


def collect_deliveries(lake: Lake, source: Source) -> list[Path]:
    """Remove the cached deliveries of `source` that no day's manifest lists any more (a re-delivered billing
    period replaced them); returns the files removed."""
    folder = lake.deliveries_dir(source.name)
    cached = sorted(folder.glob("*.files.parquet")) if folder.is_dir() else []
    if not cached:
        return []
    with connect() as con:
        days = con.execute(
            "select list(raw_file order by raw_file), list(sha256 order by raw_file) "
            "from read_parquet($f) group by day",
            {"f": str(lake.manifests_dir(source.name) / "*.parquet")},
        ).fetchall()
    listed = {delivery_key(source, list(zip(names, sums, strict=True))) for names, sums in days}
    removed = []
    for path in cached:
        key = path.name.removesuffix(".files.parquet")
        if key not in listed:
            for stale in (path, path.with_name(f"{key}.parquet")):
                stale.unlink(missing_ok=True)
                removed.append(stale)
    return removed


def _stage_day(con: duckdb.DuckDBPyConnection, settings: Settings, source: Source, day: date) -> dict[str, str]:
    """The SQL (by staging table) selecting the rows of the loaded delivery (`load_delivery`) for `day`."""
    kind = SOURCE_KINDS[source.kind]
    queries: dict[str, str] = {}
    run_model(con, "staging/day_fx", {"charge_date": day, "max_fx_age_days": settings.app.max_fx_age_days})
    if kind.target == "cost_lines":
        spread_lines(con, settings, source, day)
        run_model(
            con,
            "staging/cost_lines",
            {
                "charge_date": day,
                "source": source.name,
                "reporting_currency": settings.app.reporting_currency,
                "max_fx_age_days": settings.app.max_fx_age_days,
            },
        )
        rules = Params()
        ai_sql = ai_lines_sql(settings.allocation.ai_line_rules(), rules, "lines")
        category_sql = cost_category_sql(settings.allocation.cost_categories, rules)
        run_sql(
            con,
            "create or replace temp table cost_lines_day_src as "
            "with lines as (select * from cost_lines_candidates where reject_reason is null), "
            f"ai as ({ai_sql}) "
            "select * exclude (_file, _row, reject_reason, _billed_as_written, _effective_as_written) "
            f"replace ({category_sql} as x_CostCategory), parse_filename(_file) as x_SourceFile, _row as x_SourceRow "
            "from ai l order by x_LineId",
            rules.values,
        )
        resolve_catalog_models(con, "cost_lines_day_src")
        run_model(con, "staging/day_rejected_cost_lines")
        queries["cost_lines"] = "select * from cost_lines_day_src"
    elif kind.target == "usage_events":
        run_model(con, "staging/usage_events_duplicates", {"event_date": day})
        run_model(con, "staging/mark_repeats")
        run_model(con, "staging/day_rejected_usage")
        queries["usage_events"] = load_sql("staging/usage_events")
    else:
        con.execute(
            "create or replace temp view day_rejected as select null::varchar as source_file, "
            "null::bigint as source_row, null::varchar as column_name, null::varchar as reason, "
            "null::varchar as raw_value, null::decimal(38, 10) as billed_cost, "
            "null::decimal(38, 10) as effective_cost, null::varchar as currency where false"
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
    last, after every other source of every day, so their driver holds the usage of all the days staged here.

    The days of a source that read the same delivery share one parse: it is loaded once (from its cache, or parsed
    and cached) and each of those days is a slice of it, written to its own partitions."""
    lake = Lake(settings.app.lake)
    rows = dict.fromkeys(STAGING_TABLES, 0)
    written: dict[tuple[str, date], set[str]] = {(t, d): set() for t in STAGING_TABLES for d in days}
    files_by_source: dict[str, int] = {}
    unbalanced: list[str] = []
    first = [s for s in settings.app.sources if s.spread.method != "usage"]
    last = [s for s in settings.app.sources if s.spread.method == "usage"]
    for source in [*first, *last]:
        deliveries: dict[Delivery, list[date]] = {}
        for day in days:
            delivery = day_delivery(lake, source, day)
            files_by_source[source.name] = files_by_source.get(source.name, 0) + len(delivery.files)
            if delivery.files:
                deliveries.setdefault(delivery, []).append(day)
        for delivery, its_days in deliveries.items():
            # files are read in manifest order and their rows kept in that order (see `read_files`)
            con = connect(memory_limit=settings.app.memory_limit, temp_directory=lake.tmp_dir(), keep_order=True)
            load_delivery(con, lake, source, delivery)
            register_fx_rates(con, settings)
            for day in its_days:
                queries = _stage_day(con, settings, source, day)
                params = {
                    "charge_date": day,
                    "event_date": day,
                    "metric_date": day,
                    "source": source.name,
                    "kind": source.kind,
                    "cost_metric": settings.app.cost_metric,
                    "reporting_currency": settings.app.reporting_currency,
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
        if SOURCE_KINDS[source.kind].target == "cost_lines":
            collect_deliveries(lake, source)
    for table, day in written:
        replace_partition(lake.partition_dir(table, day), written[(table, day)])
    return StageResult(rows=rows, files_by_source=files_by_source, unbalanced_files=unbalanced)


def stage_landed_days(settings: Settings, days: list[date]) -> StageResult:
    """`stage_days` for days some of whose sources may have failed to land (`assets.raw.land_days` left them
    without a manifest): each day is staged with the sources that landed it, days landed by the same sources in one
    call. A day no source landed is staged with all of them, which fails naming the first (`land the day first`)."""
    lake = Lake(settings.app.lake)
    names = tuple(s.name for s in settings.app.sources)
    by_sources: dict[tuple[str, ...], list[date]] = {}
    for day in days:
        landed = tuple(name for name in names if lake.manifest_file(name, day).exists())
        by_sources.setdefault(landed or names, []).append(day)
    results = [stage_days(_with_sources(settings, landed), its_days) for landed, its_days in by_sources.items()]
    return StageResult(
        rows={table: sum(r.rows[table] for r in results) for table in STAGING_TABLES},
        files_by_source={
            name: sum(r.files_by_source.get(name, 0) for r in results)
            for name in names
            if any(name in r.files_by_source for r in results)
        },
        unbalanced_files=[f for r in results for f in r.unbalanced_files],
    )


def _with_sources(settings: Settings, names: tuple[str, ...]) -> Settings:
    """`settings` with only the sources named."""
    sources = [s for s in settings.app.sources if s.name in names]
    return settings.model_copy(update={"app": settings.app.model_copy(update={"sources": sources})})
