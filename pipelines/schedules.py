"""The nightly run: yesterday, plus a lookback window for late and restated data (re-runs are idempotent)."""

from datetime import date, timedelta

import dagster as dg

from pipelines.resources import ApportionConfig

nightly_job = dg.define_asset_job(
    "nightly",
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups("insights"),
    description="Every layer, one day (the insight marts run once after, over history).",
)


def nightly_days(today: date, lookback_days: int, start_date: date) -> list[date]:
    """Yesterday and the `lookback_days` before it, oldest first, never before `start_date` (the first partition)."""
    days = [today - timedelta(days=i) for i in range(lookback_days + 1, 0, -1)]
    return [d for d in days if d >= start_date]


@dg.schedule(job=nightly_job, cron_schedule="0 2 * * *", execution_timezone="UTC")
def nightly(context: dg.ScheduleEvaluationContext, apportion: ApportionConfig):
    today = context.scheduled_execution_time.date()
    app = apportion.settings().app
    for day in nightly_days(today, app.lookback_days, app.start_date):
        yield dg.RunRequest(run_key=f"{day.isoformat()}@{today.isoformat()}", partition_key=day.isoformat())
