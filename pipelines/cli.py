"""`apportion …`: generate sample data, run days in-process, query the warehouse, check a config."""

from __future__ import annotations

import os
import shutil
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from assets.config import ConfigError, load_settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console(width=shutil.get_terminal_size((200, 24)).columns)
err = Console(stderr=True)

ConfigOption = Annotated[
    Path,
    typer.Option("--config", "-c", help="apportion.yaml (default: $APPORTION_CONFIG or ./apportion.yaml)"),
]


def _config_path(config: Path | None) -> Path:
    return config or Path(os.environ.get("APPORTION_CONFIG", "apportion.yaml"))


def _settings(config: Path | None):
    try:
        return load_settings(_config_path(config))
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


@app.command()
def run(
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD")],
    end: Annotated[str, typer.Option(help="Last day, YYYY-MM-DD (inclusive)")],
    config: ConfigOption = None,  # type: ignore[assignment]
) -> None:
    """Materialize every layer for each day from START to END, in this process (no daemon needed). Raw and staging
    run first over the whole range in one run, as a single-run backfill does, so that a cost line spread over its
    days by a usage driver sees the usage of every day of the range; then the other layers run day by day."""
    import dagster as dg

    from pipelines.assets import DAILY_ASSETS, raw_files, staging_tables
    from pipelines.checks import ALL_CHECKS
    from pipelines.resources import ApportionConfig

    settings = _settings(config)
    days = _days(start, end)
    resource = ApportionConfig(path=str(settings.path))
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    staging = dg.AssetSelection.assets(raw_files, staging_tables)
    range_tags = {
        "dagster/asset_partition_range_start": str(days[0]),
        "dagster/asset_partition_range_end": str(days[-1]),
    }
    runs = [(f"{days[0]}..{days[-1]}: raw and staging", staging, {"tags": range_tags})]
    runs += [(str(day), dg.AssetSelection.all() - staging, {"partition_key": day.isoformat()}) for day in days]
    for label, selection, partitions in runs:
        began = time.perf_counter()
        result = dg.materialize(
            [*DAILY_ASSETS, *ALL_CHECKS],
            selection=selection,
            instance=instance,
            resources={"apportion": resource},
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
            raise_on_error=False,
            **partitions,
        )
        problems = _failures(result)
        if problems:
            err.print(f"[red]{label}: failed[/red]\n" + "\n".join(problems), highlight=False)
            raise typer.Exit(1)
        console.print(f"{label}: done in {time.perf_counter() - began:.1f}s ({_step_times(instance, result.run_id)})")
    _run_insights(instance, resource)
    console.print(f"warehouse: {settings.app.warehouse}")


def _run_insights(instance, resource) -> None:
    """The insight marts, once over the whole history, after the days; their alerts are warnings."""
    import dagster as dg

    from pipelines.insights import INSIGHT_ASSETS, INSIGHT_CHECKS

    began = time.perf_counter()
    result = dg.materialize(
        [*INSIGHT_ASSETS, *INSIGHT_CHECKS],
        instance=instance,
        resources={"apportion": resource},
        run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        raise_on_error=False,
    )
    problems = _failures(result)
    if problems:
        err.print("[red]insights: failed[/red]\n" + "\n".join(problems), highlight=False)
        raise typer.Exit(1)
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed:
            first = evaluation.metadata.get("first")
            err.print(f"[yellow]{evaluation.check_name}[/yellow] {first.value if first else ''}", highlight=False)
    console.print(f"insights: done in {time.perf_counter() - began:.1f}s ({_step_times(instance, result.run_id)})")


def _step_times(instance, run_id: str) -> str:
    """Seconds per step of a run, in the order they ran: where a day's time went."""
    stats = sorted(
        (s for s in instance.get_run_step_stats(run_id) if s.start_time and s.end_time), key=lambda s: s.start_time
    )
    return ", ".join(f"{s.step_key} {s.end_time - s.start_time:.1f}s" for s in stats)


def _failures(result) -> list[str]:
    """What went wrong in a run: the root cause of each failed step and each failed blocking check (a warning,
    such as a budget alert, is not a failure)."""
    import dagster as dg

    problems = []
    for event in result.all_events:
        if event.is_step_failure:
            error = event.event_specific_data.error
            while error.cause is not None:
                error = error.cause
            problems.append(f"{event.step_key}: {error.message.strip()}")
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR:
            first = evaluation.metadata.get("first")
            detail = f" e.g. {first.value}" if first else ""
            problems.append(f"check {evaluation.check_name} failed: {evaluation.description}{detail}")
    return problems


FORMATS = ("table", "csv", "json", "parquet")


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
    settings = _settings(config)
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

    settings = _settings(config)
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
    """Validate apportion.yaml and the files it names, without touching any data."""
    settings = _settings(config)
    allocation = settings.allocation
    console.print(
        f"{settings.path}: ok — {len(settings.app.sources)} sources, {len(allocation.rules)} rules, "
        f"{len(allocation.owners)} owner files, {len(allocation.cost_categories)} cost category rules"
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

    settings = _settings(config)
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
