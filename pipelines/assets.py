"""The daily assets: each wraps one layer's plain function (in `assets/`) for Dagster, one partition per charge day.

sources → raw_files → cost_lines, usage_events, usage_metrics, quarantine → priced_usage → allocated_lines →
fact_cost, reconciliation, true_up → insight_aggregates, warehouse; focus_export beside the marts, upstream of
nothing, so that a day it refuses still gets its marts and warehouse views. They are declared single-run; the code
location gives them the backfill policy its config calls for (`pipelines.partitions.for_config`).
"""

from typing import Any

import dagster as dg
from pydantic import Field

from assets.allocation.engine import allocate
from assets.export.focus import FOCUS_VERSIONS, export_focus_versions, lake_export_dir
from assets.lake import Lake
from assets.marts.facts import build_marts
from assets.marts.insights import DAILY_ASSET, build_insight_day, insights_config, overrides
from assets.pricing import price_day
from assets.raw import land_days
from assets.staging import stage_landed_days
from assets.warehouse import publish_warehouse
from pipelines.partitions import daily
from pipelines.resources import ApportionConfig, partition_days


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
    landing = land_days(apportion.settings(), partition_days(context))
    failed = [{"day": str(day), "source": source, "reason": reason} for day, source, reason in landing.failures]
    for failure in failed:
        context.log.error(f"{failure['day']} source {failure['source']} not landed: {failure['reason']}")
    summary = "; ".join(f"{f['day']} {f['source']}" for f in failed)
    check = dg.AssetCheckResult(
        check_name="sources_landed",
        passed=not failed,
        metadata={"failures": dg.MetadataValue.json(failed)},
        description=f"{len(failed)} source day(s) not landed: {summary}" if failed else None,
    )
    return dg.MaterializeResult(metadata={f"files/{s}": n for s, n in landing.files.items()}, check_results=[check])


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
    # a day some source failed to land is staged without it (see `stage_landed_days`)
    result = stage_landed_days(apportion.settings(), partition_days(context))
    # reported by the check rows_in_equal_rows_out, which names them; the other files and days go on
    unbalanced = "\n".join(result.unbalanced_files)
    if unbalanced:
        context.log.error(f"rows in != rows staged + rows quarantined for:\n{unbalanced}")
    for table in ("cost_lines", "usage_events", "usage_metrics", "quarantine"):
        metadata: dict[str, Any] = {"rows": result.rows[table]}
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


@dg.asset(
    name=DAILY_ASSET,
    deps=[
        "fact_cost",
        "priced_usage",
        "allocated_lines",
        "cost_lines",
        # a day's cache look-back reads the prompt aggregates of the days before it: a backfill cut into several
        # runs computes the days in order, never one before the day it reads
        dg.AssetDep(DAILY_ASSET, partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)),
    ],
    partitions_def=daily,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="insight_aggregates",
    kinds={"duckdb", "parquet"},
    description="The day's insight aggregates (per-day rows of the marts, prompts, token sizes, cost by dimension "
    "and model, model calls and latencies, spend by key) under <lake>/insights/<name>/charge_date=<day>/: the "
    "insight marts read these, never the calls.",
)
def insight_aggregates(context: dg.AssetExecutionContext, apportion: ApportionConfig) -> dg.MaterializeResult:
    settings = apportion.settings()
    lake, config, prices = Lake(settings.app.lake), insights_config(settings), overrides(settings)
    rows: dict[str, int] = {}
    for day in partition_days(context):  # oldest first: a day's cache look-back reads the days before it
        written = build_insight_day(
            lake,
            config,
            prices,
            day,
            memory_limit=settings.app.memory_limit,
            coverage_sources=settings.app.coverage_sources,
        )
        for name, n in written.items():
            rows[name] = rows.get(name, 0) + n
    return dg.MaterializeResult(metadata={f"rows/{name}": n for name, n in rows.items()})


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


DAILY_ASSETS = [
    raw_files,
    staging_tables,
    priced_usage,
    allocated_lines,
    marts,
    insight_aggregates,
    warehouse,
    focus_export,
]
