"""The insight marts for Dagster: one multi-asset of the marts over the daily insight aggregates (written by the
daily asset `insight_aggregates` in pipelines/assets.py), their warehouse views, the alert checks and the job and
schedule that run them after the nightly days."""

import logging
import os
from typing import Any

import dagster as dg

from assets.lake import Lake
from assets.marts.insights import (
    DAILY_ASSET,
    INSIGHT_TABLES,
    MARTS,
    anomaly_alerts,
    budget_alerts,
    build_insights,
    insight_file,
    insights_config,
    overrides,
    post_alert,
)
from assets.marts.insights_config import Alerts
from assets.warehouse import publish_warehouse
from pipelines.resources import ApportionConfig

log = logging.getLogger(__name__)

NO_HISTORY = "no history yet"


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            m.name,
            deps=[DAILY_ASSET],
            group_name="insights",
            kinds={"duckdb", "parquet"},
            description=m.description,
            skippable=True,
        )
        for m in MARTS
    ],
    can_subset=True,
)
def insight_marts(context: dg.AssetExecutionContext, apportion: ApportionConfig):
    settings = apportion.settings()
    lake = Lake(settings.app.lake)
    selected = [key.path[-1] for key in context.selected_asset_keys]
    built = build_insights(
        lake,
        insights_config(settings),
        overrides(settings),
        tables=selected,
        memory_limit=settings.app.memory_limit,
    )
    as_of = str(built.as_of) if built.as_of else NO_HISTORY
    if not built.as_of:
        context.log.warning(f"{NO_HISTORY}: fact_cost in {lake.root} has no row; the insight marts are written empty")
    for table, n in built.rows.items():
        yield dg.MaterializeResult(
            asset_key=table, metadata={"rows": n, "as_of": as_of, "path": str(insight_file(lake, table))}
        )


@dg.asset(
    deps=list(INSIGHT_TABLES),
    group_name="insights",
    kinds={"duckdb"},
    pool="duckdb_writer",
    description="The warehouse published again with the insight marts as views `marts.<table>`.",
)
def insights_warehouse(apportion: ApportionConfig) -> dg.MaterializeResult:
    settings = apportion.settings()
    views = publish_warehouse(Lake(settings.app.lake), settings.app.warehouse)
    return dg.MaterializeResult(metadata={"views": ", ".join(views)})


def alert_result(title: str, lines: list[str], alerts: Alerts) -> dg.AssetCheckResult:
    """A non-blocking (WARN) check result for alert lines, posted to the webhook when one is configured."""
    metadata: dict[str, Any] = {"alerts": len(lines), "first": "\n".join(lines[:10])}
    url = os.environ.get(alerts.webhook_url_env) if alerts.webhook_url_env else None
    if lines and url:
        metadata["webhook"] = post_alert(url, title, lines, alerts.timeout_s)
        if metadata["webhook"].startswith("not posted"):
            log.warning("alert webhook %s: %s", alerts.webhook_url_env, metadata["webhook"])
    return dg.AssetCheckResult(
        passed=not lines,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=metadata,
        description=f"{len(lines)} {title.lower()}" if lines else None,
    )


@dg.asset_check(asset="budget_status", blocking=False, description="Budgets of the latest month are on track.")
def budgets_on_track(apportion: ApportionConfig) -> dg.AssetCheckResult:
    settings = apportion.settings()
    lake = Lake(settings.app.lake)
    return alert_result("Budgets over or at risk", budget_alerts(lake), insights_config(settings).alerts)


@dg.asset_check(asset="cost_anomalies", blocking=False, description="No cost anomaly on the last charge date.")
def no_cost_anomalies(apportion: ApportionConfig) -> dg.AssetCheckResult:
    settings = apportion.settings()
    lake = Lake(settings.app.lake)
    return alert_result("Cost anomalies", anomaly_alerts(lake), insights_config(settings).alerts)


INSIGHT_ASSETS = [insight_marts, insights_warehouse]

INSIGHT_CHECKS = [budgets_on_track, no_cost_anomalies]

insights_job = dg.define_asset_job(
    "insights", selection=dg.AssetSelection.groups("insights"), description="The insight marts over the history."
)

insights_nightly = dg.ScheduleDefinition(
    job=insights_job, cron_schedule="0 5 * * *", execution_timezone="UTC", name="insights_nightly"
)
