"""Raw → staging, day by day.

`stage_days` reads those raw files with the source's kind, casts them (rejects go to quarantine with file, row,
column and reason) and writes the day's `cost_lines`, `usage_events`, `usage_metrics`, `quarantine` and
`ingest_log` partitions, one Parquet file per source.
"""

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from assets.allocation.rules import Params, cost_category_sql
from assets.config import Settings, Source
from assets.ingest import SOURCE_KINDS
from assets.ingest.base import SourceKind
from assets.ingest.readers import UnreadableFile
from assets.ingest.records import resolve_providers
from assets.ingest.validate import cast_table, staged_and_rejected
from assets.lake import Lake, replace_partition, write_parquet
from assets.raw import manifest_files
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
    `unreadable(source_file, reason)`: they are quarantined whole, the other files go on; signs that files of the
    day are missing (`SourceKind.incomplete`) in `incomplete(source_file, column_name, reason)`. Rows stay in file
    order, so what is staged from them needs no sort to be written the same way twice."""
    con.execute("create or replace temp table unreadable (source_file varchar, reason varchar)")
    con.execute("create or replace temp table files_read (_file varchar)")
    con.execute("create or replace temp table incomplete (source_file varchar, column_name varchar, reason varchar)")
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
    if kind.target == "usage_events":
        resolve_providers(con, "src_typed", options.get("provider"))
    if kind.incomplete is not None:
        gaps = kind.incomplete(con, files)
        if gaps:
            con.executemany("insert into incomplete values (?, ?, ?)", gaps)


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
