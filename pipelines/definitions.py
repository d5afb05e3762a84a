"""The Dagster code location: every asset, check, job, schedule and resource of apportion."""

import dagster as dg

from assets.allocation.engine import allocated_lines
from assets.checks import ALL_CHECKS
from assets.export.focus import focus_export
from assets.insights.marts import INSIGHT_ASSETS, INSIGHT_CHECKS, insights_job, insights_nightly
from assets.marts import marts
from assets.pricing import priced_usage
from assets.staging import raw_files, staging_tables
from assets.warehouse import warehouse
from pipelines.resources import ApportionConfig
from pipelines.schedules import nightly, nightly_job

ASSETS = [raw_files, staging_tables, priced_usage, allocated_lines, marts, warehouse, focus_export]

defs = dg.Definitions(
    assets=[*ASSETS, *INSIGHT_ASSETS],
    asset_checks=[*ALL_CHECKS, *INSIGHT_CHECKS],
    jobs=[nightly_job, insights_job],
    schedules=[nightly, insights_nightly],
    resources={"apportion": ApportionConfig()},
)
