"""`apportion …`: generate sample data, run days in-process, query the warehouse, check a config."""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from assets.config import ConfigError, Settings
from assets.config_check import CheckedConfig, load_checked

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console(width=shutil.get_terminal_size((200, 24)).columns)
err = Console(stderr=True, width=console.width)

ConfigOption = Annotated[
    Path,
    typer.Option("--config", "-c", help="apportion.yaml (default: $APPORTION_CONFIG or ./apportion.yaml)"),
]


def _config_path(config: Path | None) -> Path:
    return config or Path(os.environ.get("APPORTION_CONFIG", "apportion.yaml"))


def _checked(config: Path | None) -> CheckedConfig:
    """Every config file validated (`assets.config_check`), or exit 2 with the errors, before any data is read."""
    try:
        return load_checked(_config_path(config))
    except ConfigError as exc:
        err.print(f"[red]config error[/red]\n{exc}", markup=True, highlight=False)
        raise typer.Exit(2) from None


@app.command()
def generate(
    out: Annotated[Path, typer.Option(help="Folder to write the sample sources into")] = Path("data/sample"),
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD")] = "2026-11-01",
    days: Annotated[int, typer.Option(min=1, max=366)] = 7,
    calls_per_day: Annotated[int, typer.Option(min=100)] = 20_000,
    seed: Annotated[int, typer.Option()] = 7,
    usage_format: Annotated[str, typer.Option(help="jsonl or parquet")] = "jsonl",
) -> None:
    """Write a deterministic sample dataset: usage in five formats, a FOCUS cloud bill, vendor cost pages, invoices."""
    from collections import Counter

    from sample_data import generate as generate_sample

    began = time.perf_counter()
    summary = generate_sample(
        out,
        start=date.fromisoformat(start),
        days=days,
        calls_per_day=calls_per_day,
        seed=seed,
        usage_format=usage_format,  # type: ignore[arg-type]
    )
    files = Counter(name.split("/", 1)[0] for name in summary["files"])
    calls: Counter[str] = Counter()
    for counts in summary["calls_per_day"].values():
        calls.update(counts)
    logged = calls.pop("logged", 0)
    console.print(
        f"wrote sample data to {out} in {time.perf_counter() - began:.1f}s: {sum(files.values()):,} files, "
        f"{logged:,} calls over {days} day(s)"
    )
    console.print("  files: " + ", ".join(f"{folder}/ {n:,}" for folder, n in sorted(files.items())), highlight=False)
    console.print("  calls: " + ", ".join(f"{kind} {n:,}" for kind, n in calls.items()), highlight=False)


def _days(start: str, end: str) -> list[date]:
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    if last < first:
        raise typer.BadParameter(f"--end {end} is before --start {start}")
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


@dataclass(frozen=True)
class Failure:
    """What went wrong in `apportion run`: the day(s), the asset step or check, why, and where in the input."""

    days: str
    step: str
    reason: str
    where: str = ""
    detail: str = ""
    """The whole message, printed in full under the table (whose cells wrap and cut)."""
    check: bool = False
    """A failed check: the run fails, but its asset was written and what comes after it goes on."""


def _run_days(settings: Settings, start: str, end: str) -> list[date]:
    """The days from START to END; a day before `start_date` or not over yet is refused (exit 2) before any data
    is touched."""
    days = _days(start, end)
    first = settings.app.start_date
    if days[0] < first:
        err.print(
            f"[red]--start {days[0]} is before start_date {first}[/red], the first day apportion runs "
            f"(`start_date:` in {settings.path}); set it to {days[0]} or earlier to run older days",
            highlight=False,
        )
        raise typer.Exit(2)
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    if days[-1] > yesterday:
        err.print(f"[red]--end {days[-1]} is not over yet[/red] (UTC): the last day that can run is {yesterday}")
        raise typer.Exit(2)
    return days


@app.command()
def run(
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD")],
    end: Annotated[str, typer.Option(help="Last day, YYYY-MM-DD (inclusive)")],
    config: ConfigOption = None,  # type: ignore[assignment]
) -> None:
    """Materialize every layer for each day from START to END, in this process (no daemon needed). Raw and staging
    run first over the whole range in one run, as a single-run backfill does, so that a cost line spread over its
    days by a usage driver sees the usage of every day of the range; then the other layers, over the range in one
    run (day by day when that run has a failure), then the insight marts. A failure never stops the rest: the run
    goes on and ends with a table of what failed and why, and exits 1."""
    import dagster as dg

    from pipelines.assets import DAILY_ASSETS, raw_files, staging_tables
    from pipelines.checks import ALL_CHECKS
    from pipelines.partitions import starting_on
    from pipelines.resources import ApportionConfig

    settings = _checked(config).settings
    days = _run_days(settings, start, end)
    resource = ApportionConfig(path=str(settings.path))
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    definitions = [*starting_on(settings.app.start_date, DAILY_ASSETS), *ALL_CHECKS]
    staging = dg.AssetSelection.assets(raw_files, staging_tables)

    def materialize(label: str, selection: dg.AssetSelection, **partitions: Any) -> list[Failure]:
        began = time.perf_counter()
        result = dg.materialize(
            definitions,
            selection=selection,
            instance=instance,
            resources={"apportion": resource},
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
            raise_on_error=False,
            **partitions,
        )
        problems = _failures(result, label.split(":")[0])
        status = f"[red]{len(problems)} failed[/red]" if problems else "done"
        console.print(
            f"{label}: {status} in {time.perf_counter() - began:.1f}s ({_step_times(instance, result.run_id)})"
        )
        return problems

    range_tags = {
        "dagster/asset_partition_range_start": str(days[0]),
        "dagster/asset_partition_range_end": str(days[-1]),
    }
    span = str(days[0]) if len(days) == 1 else f"{days[0]}..{days[-1]}"
    failures = materialize(f"{span}: raw and staging", staging, tags=range_tags)
    staged = days if _steps_ran(failures) else []
    if not staged and len(days) > 1:
        console.print("raw and staging failed over the range: staging day by day, so that the other days go on")
        by_day = [(day, materialize(f"{day}: raw and staging", staging, partition_key=str(day))) for day in days]
        staged = [day for day, problems in by_day if _steps_ran(problems)]
        failures = [f for _, problems in by_day for f in problems] or failures
    failures += [
        Failure(str(day), "every later layer", "not run: raw and staging failed") for day in days if day not in staged
    ]
    failures += _later_layers(materialize, dg.AssetSelection.all() - staging, staged, days)
    failures += _run_insights(instance, resource)
    console.print(f"warehouse: {settings.app.warehouse}")
    _print_incomplete(settings, staged)
    if failures:
        _print_failures(failures)
        raise typer.Exit(1)


def _later_layers(materialize: Any, later: Any, staged: list[date], days: list[date]) -> list[Failure]:
    """Every layer after staging for the staged days: in one run over the range when every day was staged (a run
    costs seconds of Dagster's own time, whatever its days hold), and again day by day when a step of that run
    failed, so that a failing day is named and never holds back the others (re-running a day is idempotent)."""
    if len(staged) > 1 and staged == days:
        tags = {"dagster/asset_partition_range_start": str(days[0]), "dagster/asset_partition_range_end": str(days[-1])}
        failures = materialize(f"{days[0]}..{days[-1]}", later, tags=tags)
        if _steps_ran(failures):
            return failures
        console.print("a step failed over the range: running the later layers day by day, to find the failing day")
    return [f for day in staged for f in materialize(str(day), later, partition_key=str(day))]


def _steps_ran(failures: list[Failure]) -> bool:
    """Every step ran: what failed, if anything, is a check that holds nothing back."""
    return all(f.check for f in failures)


def _run_insights(instance: Any, resource: Any) -> list[Failure]:
    """The insight marts, once over the whole history, after the days; their alerts are warnings."""
    import dagster as dg

    from pipelines.insights import INSIGHT_ASSETS, INSIGHT_CHECKS, NO_HISTORY

    began = time.perf_counter()
    result = dg.materialize(
        [*INSIGHT_ASSETS, *INSIGHT_CHECKS],
        instance=instance,
        resources={"apportion": resource},
        run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        raise_on_error=False,
    )
    problems = _failures(result, "history")
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN:
            first = evaluation.metadata.get("first")
            err.print(f"[yellow]{evaluation.check_name}[/yellow] {first.value if first else ''}", highlight=False)
    materialized = [event.materialization.metadata for event in result.get_asset_materialization_events()]
    as_of = {str(metadata["as_of"].value) for metadata in materialized if "as_of" in metadata}
    note = f" — {NO_HISTORY}: fact_cost has no row, the marts are written empty" if NO_HISTORY in as_of else ""
    status = f"[red]{len(problems)} failed[/red]" if problems else "done"
    console.print(
        f"insights: {status} in {time.perf_counter() - began:.1f}s ({_step_times(instance, result.run_id)}){note}"
    )
    return problems


def _step_times(instance: Any, run_id: str) -> str:
    """Seconds per step of a run, in the order they ran: where a day's time went."""
    stats = sorted(
        (s for s in instance.get_run_step_stats(run_id) if s.start_time and s.end_time), key=lambda s: s.start_time
    )
    return ", ".join(f"{s.step_key} {s.end_time - s.start_time:.1f}s" for s in stats)


_WHERE = re.compile(
    r"(?P<file>[\w.\-/]+\.(?:csv|tsv|jsonl|json|ndjson|parquet|gz|zip|yaml|yml|txt))"
    r"(?::(?P<line>\d+)| row (?P<row>\d+))?"
)


def _where(message: str) -> str:
    """The first input file (and line or row) a message names, e.g. `cur-00001.csv.gz row 12`."""
    found = _WHERE.search(message)
    if not found:
        return ""
    row = found["line"] or found["row"]
    return f"{Path(found['file']).name} row {row}" if row else Path(found["file"]).name


def _cause(error: Any) -> str:
    """The message of the error apportion raised: the first one in the chain that is not Dagster's wrapper."""
    chain = []
    while error is not None:
        chain.append(error)
        error = error.cause or error.context
    ours = [e for e in chain if not e.cls_name or not e.cls_name.startswith("Dagster")]
    message = (ours or chain)[0].message.strip() if chain else "unknown error"
    return re.sub(r"^(?:\w+\.)+(\w+: )", r"\1", message)  # FocusExportError, not assets.export.focus.Focus…


def _failures(result: Any, days: str) -> list[Failure]:
    """What went wrong in a run: each failed step with its cause, each step not run because of one, and each failed
    check of error severity (a warning, such as a budget alert, is not a failure)."""
    import dagster as dg

    problems = []
    for event in result.all_events:
        if event.is_step_failure:
            message = _cause(event.event_specific_data.error)
            problems.append(Failure(days, event.step_key, message.partition("\n")[0], _where(message), message))
    started = {event.step_key for event in result.all_events if event.is_step_start}
    if problems:
        for step in sorted(set(result.job_def.graph.node_names()) - started):
            problems.append(Failure(days, step, "not run: a step or blocking check before it failed"))
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.passed or evaluation.severity != dg.AssetCheckSeverity.ERROR:
            continue
        listed = evaluation.metadata.get("failures")  # sources_landed: a row per source and day
        if listed is not None:
            problems += [_source_failure(**failure) for failure in listed.value]
        else:
            first = evaluation.metadata.get("first")
            example = str(first.value) if first else ""
            reason = evaluation.description or "failed"
            problems.append(Failure(days, f"check {evaluation.check_name}", reason, _where(example), example, True))
    return problems


FORMATS = ("table", "csv", "json", "parquet")


def _source_failure(day: str, source: str, reason: str) -> Failure:
    """A source that failed to land on a day: its day went on without it."""
    return Failure(day, f"raw_files: source {source}", reason.partition("\n")[0], _where(reason), reason, check=True)


def _print_incomplete(settings: Settings, days: list[date]) -> None:
    """The table of the sources' days that reconciliation says are not complete (nothing landed, a file unreadable,
    too much of the cost quarantined…), with the reason: the run went through, but their numbers are partial."""
    from assets.marts.facts import incomplete_source_days

    incomplete = incomplete_source_days(settings, days)
    if not incomplete:
        return
    table = Table(
        "day", "source", "why incomplete", title=f"{len(incomplete)} source day(s) incomplete", title_style="yellow"
    )
    for day, source, reason in incomplete:
        table.add_row(str(day), source, reason)
    err.print(table)
    for day, source, reason in incomplete:
        err.print(f"{day} {source}: {reason}", highlight=False, markup=False, soft_wrap=True)


def _print_failures(failures: list[Failure]) -> None:
    """The closing table of a run that had failures, then the whole message of each, unwrapped (paths and rows
    stay whole to copy)."""
    table = Table("day", "asset / step", "reason", "file and row", title=f"{len(failures)} failed", title_style="red")
    for f in failures:
        table.add_row(f.days, f.step, f.reason, f.where)
    err.print(table)
    for f in failures:
        if f.detail:
            err.print(f"{f.days} {f.step}: {f.detail}", highlight=False, markup=False, soft_wrap=True)


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="SQL; unqualified names like fact_cost resolve")],
    config: ConfigOption = None,  # type: ignore[assignment]
    limit: Annotated[int, typer.Option(help="Rows to print at most (table format)")] = 200,
    fmt: Annotated[str, typer.Option("--format", help="table, csv, json (an array of objects) or parquet")] = "table",
    out: Annotated[Path | None, typer.Option("--out", help="Write the whole result to this file")] = None,
) -> None:
    """Query the warehouse read-only: print a table, or write CSV, JSON or Parquet to stdout or --out. A query that
    fails exits 1 with DuckDB's message."""
    import duckdb

    from assets.warehouse import open_warehouse

    if fmt not in FORMATS:
        raise typer.BadParameter(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if fmt == "parquet" and out is None:
        raise typer.BadParameter("--format parquet needs --out FILE")
    settings = _checked(config).settings
    try:
        with open_warehouse(settings.app.warehouse) as con:
            if fmt == "table":
                cursor = con.execute(query)
                _print_table([d[0] for d in cursor.description or []], cursor.fetchmany(limit), out)
            else:
                _write_result(con, query, fmt, out)
    except FileNotFoundError as exc:
        err.print(str(exc), highlight=False)
        raise typer.Exit(1) from None
    except duckdb.Error as exc:  # a user's SQL error is reported, not a traceback
        err.print(Text.assemble(("query failed", "red"), f": {exc}"), highlight=False)
        raise typer.Exit(1) from None


def _print_table(columns: list[str], rows: list[tuple], out: Path | None) -> None:
    table = Table(*columns, show_lines=False)
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    if out is None:
        console.print(table)
    else:
        with out.open("w") as handle:
            Console(file=handle, width=console.width).print(table)


def _write_result(con, query: str, fmt: str, out: Path | None) -> None:
    """DuckDB writes the file itself (exact decimals, its own CSV and JSON rules); to stdout through a temporary
    file, so the output is the same either way."""
    import sys
    import tempfile

    con.register("query_result", con.sql(query))
    options = {"csv": "format csv, header true", "json": "format json, array true", "parquet": "format parquet"}[fmt]
    with tempfile.TemporaryDirectory() as folder:
        target = out or Path(folder) / f"result.{fmt}"
        path = str(target).replace("'", "''")
        con.execute(f"copy query_result to '{path}' ({options})")
        if out is None:
            sys.stdout.write(target.read_text())


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:f}"
    return str(value)


@app.command()
def report(
    out: Annotated[Path, typer.Option(help="HTML file to write")] = Path("report.html"),
    start: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD (default: first charge date)")] = None,
    end: Annotated[str | None, typer.Option(help="Last day, YYYY-MM-DD (default: last charge date)")] = None,
    config: ConfigOption = None,  # type: ignore[assignment]
) -> None:
    """Write one self-contained HTML report (spend, top features/customers/agents, retries, tokens, anomalies,
    budgets, unallocated share, forecast) that opens without a network."""
    from assets.lake import Lake
    from assets.report import ReportError, write_report

    settings = _checked(config).settings
    try:
        first = date.fromisoformat(start) if start else None
        last = date.fromisoformat(end) if end else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    try:
        path = write_report(Lake(settings.app.lake), out, start=first, end=last)
    except ReportError as exc:
        err.print(str(exc), highlight=False)
        raise typer.Exit(1) from None
    console.print(f"report: {path}")


@app.command("check-config")
def check_config(config: ConfigOption = None) -> None:  # type: ignore[assignment]
    """Validate apportion.yaml and every file it names (allocation rules and owner files, FX rates, prices,
    insights) and each source's options, without reading any data."""
    checked = _checked(config)
    settings, allocation, prices = checked.settings, checked.settings.allocation, checked.prices
    console.print(
        f"{settings.path}: ok — {len(settings.app.sources)} sources, {len(allocation.rules)} rules, "
        f"{len(allocation.owners)} owner files, {len(allocation.cost_categories)} cost category rules, "
        f"{len(settings.fx_rates)} FX rates, {len(list(prices.entries()))} price overrides, "
        f"{len(checked.insights.budgets)} budgets"
    )


export_app = typer.Typer(no_args_is_help=True, help="Write apportion's results in formats other tools read.")
app.add_typer(export_app, name="export")


@export_app.command("focus")
def export_focus_command(
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD")],
    end: Annotated[str, typer.Option(help="Last day, YYYY-MM-DD (inclusive)")],
    out: Annotated[Path, typer.Option(help="Folder to write <out>/charge_date=<day>/data.<format> into")],
    focus_version: Annotated[str, typer.Option("--focus-version", help="1.2 or 1.3")] = "1.3",
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv")] = "parquet",
    config: ConfigOption = None,  # type: ignore[assignment]
) -> None:
    """Export allocated costs as a FOCUS Cost and Usage dataset: one row per allocated piece of every cost line."""
    from assets.export.focus import FocusExportError, export_focus

    settings = _checked(config).settings
    days = _days(start, end)
    began = time.perf_counter()
    try:
        summary = export_focus(settings, days[0], days[-1], out, focus_version, fmt)
    except (FocusExportError, FileNotFoundError, ValueError) as exc:
        err.print(f"[red]export failed[/red]: {exc}", highlight=False)
        raise typer.Exit(1) from None
    seconds = time.perf_counter() - began
    console.print(
        f"FOCUS {summary['version']} {summary['format']}: {summary['rows']:,} rows over {summary['days']} day(s) "
        f"in {out} ({seconds:.1f}s, {summary['rows'] / max(seconds, 1e-9):,.0f} rows/s)"
    )


if __name__ == "__main__":
    app()
