"""Allocated costs as a FOCUS Cost and Usage dataset (FOCUS 1.2 or 1.3), one file per charge day.

Every staged cost line is an *origin charge*; every piece allocation cut it into is an *allocated charge*, one row
of the export. All summable columns of a charge (BilledCost, EffectiveCost, ListCost, ContractedCost,
PricingQuantity, ConsumedQuantity, PricingCurrencyEffectiveCost, CommitmentDiscountQuantity) are split over its pieces
exactly like allocation split the cost metric (unit prices are not split: every piece has its charge's), so the
export sums to the sources per day, per source and per InvoiceId, and to `fact_cost` per team. FOCUS 1.3 carries
the allocation in its split cost allocation columns; 1.2 has none, so the attribution goes into `Tags` (keys
`apportion/…`) and `x_` columns. See `docs/focus-export.md`.

Staging already gives FOCUS's values in the columns with allowed values (`assets.ingest.vocabulary`: a value with
no mapping is quarantined there). Values FOCUS requires and a source may lack are derived by documented rules
(`sql/export/focus_charges.sql`, docs/focus-export.md). A line that still cannot be FOCUS (no invoice issuer) is left
out of the files and listed in the summary's `left_out`, with its source
file, row and the reason: it never costs the rest of the day. Only an allocation out of step with staging stops the
export of its day (re-run the day).
"""

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from assets.config import Settings
from assets.ingest.readers import sql_string
from assets.lake import Lake, atomic_path, register_day_view, write_parquet
from assets.schemas import STAGED_COST_LINES
from assets.sql import connect, load_sql, run_model, single_statement

FOCUS_VERSIONS = ("1.2", "1.3")
FORMATS = ("parquet", "csv")

DRIVER_UNITS = {
    "tokens": "Tokens",
    "input_tokens": "Input Tokens",
    "output_tokens": "Output Tokens",
    "requests": "Requests",
}
"""UsageUnit of a usage rule's driver counted in whole units; list cost and metrics are in units of 1e-10."""

TEN_PLACES = Decimal("0.0000000001")
PROBLEMS_SHOWN = 5


class FocusExportError(ValueError):
    """The day cannot be exported as FOCUS; the message names the lines (file, row) and why."""


def check_choice(version: str, fmt: str) -> None:
    if version not in FOCUS_VERSIONS:
        raise ValueError(f"FOCUS version {version!r}: one of {', '.join(FOCUS_VERSIONS)}")
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: one of {', '.join(FORMATS)}")


def lake_export_dir(settings: Settings, version: str) -> Path:
    """Where the `focus_export` asset writes a version: `<lake>/export/focus_<version>/charge_date=<day>/`."""
    return Lake(settings.app.lake).root / "export" / f"focus_{version}"


def day_file(out_dir: Path, day: date, fmt: str) -> Path:
    return out_dir / f"charge_date={day.isoformat()}" / f"data.{fmt}"


def driver_rows(settings: Settings) -> list[tuple[str, str, Decimal, str]]:
    """(rule, UsageUnit, what one unit of its weight is worth in UsageUnit, driver) for each rule that splits by a
    measured driver: usage rules (tokens, requests, list cost, a metric) and cost rules (their bases' cost)."""
    currency = settings.app.reporting_currency
    rows = []
    for rule in settings.allocation.rules:
        if rule.method == "usage" and rule.driver in DRIVER_UNITS:
            rows.append((rule.name, DRIVER_UNITS[rule.driver], Decimal(1), rule.driver))
        elif rule.method == "usage" and rule.driver:
            unit = currency if rule.driver == "list_cost" else rule.driver.removeprefix("metric:")
            rows.append((rule.name, unit, TEN_PLACES, rule.driver))
        elif rule.method == "cost":
            rows.append((rule.name, currency, TEN_PLACES, "cost:" + ",".join(rule.basis or [])))
    return rows


def _register_inputs(con: duckdb.DuckDBPyConnection, settings: Settings, day: date) -> None:
    lake = Lake(settings.app.lake)
    if not lake.partition_file("allocated_lines", day).exists():
        raise FileNotFoundError(f"no allocated_lines for {day}: run the pipeline for that day first")
    register_day_view(con, lake, "allocated_lines", day, "allocated_lines_day", [])
    register_day_view(con, lake, "cost_lines", day, "cost_lines_files", STAGED_COST_LINES)
    # a day staged before staging carried a column (CommitmentDiscountCategory…) exports it as null
    present = {r[0] for r in con.execute("describe cost_lines_files").fetchall()}
    missing = "".join(f', null::{t} as "{n}"' for n, t in STAGED_COST_LINES if n not in present)
    con.execute(f"create or replace temp view cost_lines_day as select *{missing} from cost_lines_files")
    con.execute(
        "create or replace temp table focus_drivers "
        "(rule_name varchar, usage_unit varchar, unit_scale decimal(38, 10), driver varchar)"
    )
    rows = driver_rows(settings)
    if rows:
        con.executemany("insert into focus_drivers values (?, ?, ?, ?)", rows)


def _refuse_stale(con: duckdb.DuckDBPyConnection, day: date) -> None:
    """Raise `FocusExportError` when the day's allocation is out of step with its staged lines (re-run the day)."""
    first = con.execute(
        "select x_Source, x_SourceFile, x_SourceRow, line_id, stale, count(*) over () from focus_charges "
        f"where stale is not null order by x_Source, x_SourceFile, x_SourceRow, line_id limit {PROBLEMS_SHOWN}"
    ).fetchall()
    if not first:
        return
    lines = [
        f"  {file} row {row} (source {source}): {stale}" if file else f"  line {line_id}: {stale}"
        for source, file, row, line_id, stale, _ in first
    ]
    raise FocusExportError(
        f"cannot export {day} as FOCUS: the allocation of {first[0][5]} cost line(s) is out of step with staging, "
        "e.g.\n" + "\n".join(lines)
    )


def _leave_out_problems(con: duckdb.DuckDBPyConnection, day: date) -> list[dict[str, Any]]:
    """Take the lines FOCUS cannot represent out of `focus_charges`; return them (charge date, source, file, row,
    line id, reason, billed and effective cost as text) for the export's summary."""
    left_out = con.execute(
        "select x_Source, x_SourceFile, x_SourceRow, line_id, problem, BilledCost::varchar, EffectiveCost::varchar "
        "from focus_charges where problem is not null order by x_Source, x_SourceFile, x_SourceRow, line_id"
    ).fetchall()
    if left_out:
        con.execute("delete from focus_charges where problem is not null")
    keys = ("source", "file", "row", "line_id", "reason", "billed_cost", "effective_cost")
    return [{"charge_date": day.isoformat(), **dict(zip(keys, line, strict=True))} for line in left_out]


def _write_csv(con: duckdb.DuckDBPyConnection, query: str, target: Path) -> int:
    """CSV with a header; date/times as FOCUS writes them (ISO 8601 UTC, `YYYY-MM-DDTHH:mm:ssZ`)."""
    statement, bound = single_statement(query)
    with atomic_path(target) as tmp:
        rows = con.execute(
            f"copy ({statement}) to {sql_string(str(tmp))} "
            "(format csv, header true, timestampformat '%Y-%m-%dT%H:%M:%SZ')",
            bound,
        ).fetchall()[0][0]
    return int(rows)


def build_charges(con: duckdb.DuckDBPyConnection, day: date, cost_metric: str) -> list[dict[str, Any]]:
    """`focus_charges` from the views `cost_lines_day` and `allocated_lines_day`: the lines FOCUS can represent,
    values derived by the documented rules. Returns the lines left out; raises `FocusExportError` on a stale
    allocation."""
    run_model(
        con,
        "export/focus_charges",
        {"charge_date": day, "cost_metric": cost_metric},
    )
    _refuse_stale(con, day)
    return _leave_out_problems(con, day)


def prepare_day(con: duckdb.DuckDBPyConnection, settings: Settings, day: date) -> list[dict[str, Any]]:
    """Build `focus_pieces`, the FOCUS rows of `day` that every version writes; returns the lines left out."""
    _register_inputs(con, settings, day)
    left_out = build_charges(con, day, settings.app.cost_metric)
    run_model(con, "export/focus_pieces")
    return left_out


def write_version(con: duckdb.DuckDBPyConnection, target: Path, version: str, fmt: str) -> int:
    """Write the prepared day's rows as FOCUS `version` to `target` (atomically); returns the rows written."""
    query = load_sql(f"export/focus_cost_and_usage_{version.replace('.', '_')}")
    return write_parquet(con, query, target) if fmt == "parquet" else _write_csv(con, query, target)


def export_focus_versions(
    settings: Settings, start: date, end: date, out_dirs: dict[str, Path], fmt: str = "parquet"
) -> dict[str, dict]:
    """Export the days `start`..`end` (inclusive) as each FOCUS version of `out_dirs` (version → directory) in `fmt`,
    one file per day and version: `<out_dir>/charge_date=<day>/data.<fmt>`. A day's rows are built once for all
    versions. Returns a summary per version: version, format, days, rows, files, and `left_out`: the cost lines FOCUS
    cannot represent (charge date, source, file, row, line id, reason, billed and effective cost), not in the files."""
    for version in out_dirs:
        check_choice(version, fmt)
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    summaries: dict[str, dict[str, Any]] = {
        v: {"version": v, "format": fmt, "days": len(days), "rows": 0, "files": [], "left_out": []} for v in out_dirs
    }
    con = connect(
        memory_limit=settings.app.memory_limit, temp_directory=Lake(settings.app.lake).tmp_dir(), keep_order=True
    )
    try:
        for day in days:
            left_out = prepare_day(con, settings, day)
            for version, out_dir in out_dirs.items():
                summaries[version]["left_out"] += left_out
                target = day_file(Path(out_dir), day, fmt)
                summaries[version]["rows"] += write_version(con, target, version, fmt)
                summaries[version]["files"].append(str(target))
    finally:
        con.close()
    return summaries


def export_focus(
    settings: Settings, start: date, end: date, out_dir: Path, version: str = "1.3", fmt: str = "parquet"
) -> dict:
    """Export the days `start`..`end` (inclusive) as FOCUS `version` in `fmt` (parquet or csv), one file per day:
    `<out_dir>/charge_date=<day>/data.<fmt>`. Returns a summary: version, format, days, rows, files, left_out."""
    return export_focus_versions(settings, start, end, {version: out_dir}, fmt)[version]
