"""Daily partitions: one partition per charge day (UTC), from `start_date:` of apportion.yaml on."""

from collections.abc import Sequence
from datetime import date

import dagster as dg

from assets.config import DEFAULT_START_DATE


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
