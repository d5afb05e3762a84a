"""Daily partitions: one partition per charge day (UTC). Monthly sources are spread onto days in staging."""

import os

import dagster as dg

START_DATE = os.environ.get("APPORTION_START_DATE", "2025-01-01")

daily = dg.DailyPartitionsDefinition(start_date=START_DATE, timezone="UTC")
