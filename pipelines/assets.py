"""The daily assets: each wraps one layer's plain function (in `assets/`) for Dagster, one partition per charge day.

sources → raw_files → cost_lines, usage_events, usage_metrics, quarantine → priced_usage → allocated_lines →
fact_cost, reconciliation, true_up → warehouse; focus_export beside the marts, upstream of nothing, so that a day
it refuses still gets its marts and warehouse views. They are declared single-run; the code location gives them the
backfill policy its config calls for (`pipelines.partitions.for_config`).
"""

from collections.abc import Iterable
from datetime import date
from typing import Any

import dagster as dg
from pydantic import Field

from assets.allocation.engine import allocate
from assets.config import Settings, Source
from assets.export.focus import FOCUS_VERSIONS, export_focus_versions, lake_export_dir
from assets.lake import Lake
from assets.marts.facts import build_marts
from assets.pricing import price_day
from assets.raw import land_day
from assets.staging import stage_days
from assets.warehouse import publish_warehouse
from pipelines.partitions import daily
from pipelines.resources import ApportionConfig, partition_days


def with_sources(settings: Settings, sources: Iterable[Source]) -> Settings:
    """`settings` with only `sources` configured."""
    return settings.model_copy(update={"app": settings.app.model_copy(update={"sources": list(sources)})})


@dg.asset(
    partitions_def=daily,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="raw",
    kinds={"parquet"},
    description="Byte-for-byte copies of every source file of the day, with a manifest per source and day.",
    check_specs=[
        dg.AssetCheckSpec(
            "sources_landed",
            asset="raw_files",
            blocking=False,
            description="Every source of every day was fetched and landed; one that failed is left out of the day "
            "(its reconciliation incomplete) while the others go on.",
        )
    ],
)
def raw_files(context: dg.AssetExecutionContext, apportion: ApportionConfig) -> dg.MaterializeResult:
    settings = apportion.settings()
    lake = Lake(settings.app.lake)
    landed: dict[str, int] = {}
    failed: list[dict[str, str]] = []
    for day in partition_days(context):
        for source in settings.app.sources:
            try:
                landed[source.name] = (
                    landed.get(source.name, 0) + land_day(with_sources(settings, [source]), day)[source.name]
                )
            except Exception as exc:  # a fetch or a copy that fails: reported, and the day's other sources go on
                # no manifest: staging leaves the source out of the day rather than stage an older landing
                lake.manifest_file(source.name, day).unlink(missing_ok=True)
                reason = f"{type(exc).__name__}: {str(exc).strip()}"
                failed.append({"day": str(day), "source": source.name, "reason": reason})
                context.log.error(f"{day} source {source.name} not landed: {reason}")
    summary = "; ".join(f"{f['day']} {f['source']}" for f in failed)
    check = dg.AssetCheckResult(
        check_name="sources_landed",
        passed=not failed,
        metadata={"failures": dg.MetadataValue.json(failed)},
        description=f"{len(failed)} source day(s) not landed: {summary}" if failed else None,
    )
    return dg.MaterializeResult(metadata={f"files/{s}": n for s, n in landed.items()}, check_results=[check])


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
    lake = Lake(settings.app.lake)
    # the days in one call, but a day some source failed to land (no manifest) is staged without it; a day no
    # source landed is an error (`land the day first`)
    names = tuple(s.name for s in settings.app.sources)
    landed_days: dict[tuple[str, ...], list[date]] = {}
    for day in partition_days(context):
        landed = tuple(name for name in names if lake.manifest_file(name, day).exists())
        landed_days.setdefault(landed or names, []).append(day)
    results = [
        stage_days(with_sources(settings, [s for s in settings.app.sources if s.name in landed]), days)
        for landed, days in landed_days.items()
    ]
    rows = {table: sum(r.rows[table] for r in results) for table in results[0].rows}
    # reported by the check rows_in_equal_rows_out, which names them; the other files and days go on
    unbalanced = "\n".join(f for r in results for f in r.unbalanced_files)
    if unbalanced:
        context.log.error(f"rows in != rows staged + rows quarantined for:\n{unbalanced}")
    for table in ("cost_lines", "usage_events", "usage_metrics", "quarantine"):
        metadata: dict[str, Any] = {"rows": rows[table]}
        if table == "quarantine":
            metadata["unbalanced_files"] = unbalanced or "none"
        yield dg.MaterializeResult(asset_key=table, metadata=metadata)


@dg.asset(
    deps=["usage_events"],
    partitions_def=daily,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="pricing",
    kinds={"duckdb", "parquet"},
    description="Every call priced at the dated list price (genai-prices catalog + overrides); unknown models "
    "are listed in metadata, never guessed.",
)
def priced_usage(context: dg.AssetExecutionContext, apportion: ApportionConfig) -> dg.MaterializeResult:
    settings = apportion.settings()
    rows, unpriced = 0, []
    for day in partition_days(context):
        result = price_day(settings, day)
        rows += result["rows"]
        unpriced += [f"{day} {provider}/{model}: {calls} calls" for provider, model, calls in result["unpriced"]]
    return dg.MaterializeResult(metadata={"rows": rows, "unpriced_models": "\n".join(unpriced) or "none"})


@dg.asset(
    deps=["cost_lines", "priced_usage", "usage_metrics"],
    partitions_def=daily,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="allocation",
    kinds={"duckdb", "parquet"},
    description="Every cost line split by the first matching rule; what no rule takes stays on `unallocated`.",
)
def allocated_lines(context: dg.AssetExecutionContext, apportion: ApportionConfig) -> dg.MaterializeResult:
    settings = apportion.settings()
    pieces = unallocated = 0
    for day in partition_days(context):
        result = allocate(settings, day)
        pieces += result["pieces"]
        unallocated += result["unallocated_lines"]
    return dg.MaterializeResult(metadata={"pieces": pieces, "unallocated_lines": unallocated})


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "fact_cost",
            deps=["allocated_lines", "priced_usage"],
            group_name="marts",
            kinds={"parquet"},
            description="Cost per day × team × feature × customer × agent × workflow × provider × model "
            "× category × rule × source; the table finance and engineering query.",
        ),
        dg.AssetSpec(
            "reconciliation",
            deps=["allocated_lines", "cost_lines", "quarantine"],
            group_name="marts",
            kinds={"parquet"},
            description="Per day and source: source total, allocated, unallocated, difference (always 0).",
        ),
        dg.AssetSpec(
            "true_up",
            deps=["allocated_lines", "cost_lines"],
            group_name="marts",
            kinds={"parquet"},
            description="Per day, vendor, model and API key: billed against list-priced telemetry, the residual, "
            "and billed spend with no telemetry at all.",
        ),
    ],
    partitions_def=daily,
    backfill_policy=dg.BackfillPolicy.single_run(),
    # subsettable only to avoid a Dagster 1.13 check that compares partition subsets with a faulty `!=` and refuses
    # some backfills at random; all three tables are always built together
    can_subset=True,
)
def marts(context: dg.AssetExecutionContext, apportion: ApportionConfig):
    settings = apportion.settings()
    rows = {"fact_cost": 0, "reconciliation": 0, "true_up": 0}
    for day in partition_days(context):
        for table, n in build_marts(settings, day).items():
            rows[table] += n
    for table, n in rows.items():
        if dg.AssetKey(table) in context.selected_asset_keys:
            yield dg.MaterializeResult(asset_key=table, metadata={"rows": n})


@dg.asset(
    deps=["fact_cost", "reconciliation", "quarantine", "usage_events"],
    partitions_def=daily,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="warehouse",
    kinds={"duckdb"},
    pool="duckdb_writer",
    description="The DuckDB file: schemas raw, staging, pricing, allocation, marts as views over the lake.",
)
def warehouse(apportion: ApportionConfig) -> dg.MaterializeResult:
    settings = apportion.settings()
    views = publish_warehouse(Lake(settings.app.lake), settings.app.warehouse)
    return dg.MaterializeResult(metadata={"views": ", ".join(views), "path": str(settings.app.warehouse)})


class FocusExportConfig(dg.Config):
    focus_versions: list[str] = Field(default_factory=lambda: list(FOCUS_VERSIONS))
    """The FOCUS versions to write, each to `<lake>/export/focus_<version>/`."""


@dg.asset(
    deps=["allocated_lines", "cost_lines"],
    partitions_def=daily,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="export",
    kinds={"parquet"},
    description="Allocated costs as a FOCUS Cost and Usage dataset (1.2 and 1.3): one row per allocated piece of "
    "every cost line, under <lake>/export/focus_<version>/charge_date=<day>/data.parquet.",
)
def focus_export(
    context: dg.AssetExecutionContext, config: FocusExportConfig, apportion: ApportionConfig
) -> dg.MaterializeResult:
    settings = apportion.settings()
    days = partition_days(context)
    out_dirs = {version: lake_export_dir(settings, version) for version in config.focus_versions}
    summaries = export_focus_versions(settings, min(days), max(days), out_dirs)
    left_out = next(iter(summaries.values()))["left_out"] if summaries else []
    if left_out:
        context.log.warning(f"focus_export: {len(left_out)} cost line(s) left out, e.g. {left_out[0]}")
    return dg.MaterializeResult(
        metadata={
            **{f"rows/{v}": summary["rows"] for v, summary in summaries.items()},
            "left_out": len(left_out),
            "left_out_lines": dg.MetadataValue.json(left_out),
        }
    )


DAILY_ASSETS = [raw_files, staging_tables, priced_usage, allocated_lines, marts, warehouse, focus_export]
