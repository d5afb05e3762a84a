"""Daily partitions: one partition per charge day (UTC), from `start_date:` of apportion.yaml on; and how a backfill
of them is cut into runs, decided from the config."""

from collections.abc import Sequence
from datetime import date

import dagster as dg

from assets.config import DEFAULT_START_DATE, Settings

DAYS_PER_RUN = 3
"""Days per run of a multi-run backfill: a few, so that a long backfill spreads over as many workers as the run
queue allows while each run's start-up (seconds locally, a pod on a cluster) stays small against its work."""


def daily_partitions(start: date) -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(start_date=start.isoformat(), timezone="UTC")


daily = daily_partitions(DEFAULT_START_DATE)
"""What the daily assets are declared with; `starting_on` moves their first day to the config's."""


def starting_on(start: date, assets: Sequence[dg.AssetsDefinition]) -> list[dg.AssetsDefinition]:
    """`assets` with their daily partitions starting on `start` (the config's `start_date`)."""
    partitions = daily_partitions(start)
    return list(
        dg.map_asset_specs(
            lambda spec: spec.replace_attributes(partitions_def=partitions) if spec.partitions_def else spec, assets
        )
    )


def backfill_policy(settings: Settings) -> dg.BackfillPolicy:
    """Runs of `DAYS_PER_RUN` days, unless a source spreads its lines by usage. A day's share of such a line
    depends on the usage of every day of the line's period, and a run of other days has not staged those yet (the
    share is then held back as incomplete): so the backfill is one run, whose staging stages the usage of every day
    before the spread sources (`assets.staging.stage_days`). An even spread needs no other day: many runs."""
    if any(source.spread.method == "usage" for source in settings.app.sources):
        return dg.BackfillPolicy.single_run()
    return dg.BackfillPolicy.multi_run(max_partitions_per_run=DAYS_PER_RUN)


def for_config(settings: Settings, assets: Sequence[dg.AssetsDefinition]) -> list[dg.AssetsDefinition]:
    """The daily `assets` as the config runs them: from its `start_date`, with its backfill policy (one policy for
    all, so that a backfill puts every layer of the same days in the same run)."""
    policy = backfill_policy(settings)
    return [a.with_attributes(backfill_policy=policy) for a in starting_on(settings.app.start_date, assets)]
