"""The Dagster code location: every asset, check, job, schedule and resource of apportion."""

import dagster as dg

from pipelines.assets import DAILY_ASSETS
from pipelines.checks import ALL_CHECKS
from pipelines.insights import INSIGHT_ASSETS, INSIGHT_CHECKS, insights_job, insights_nightly
from pipelines.resources import ApportionConfig
from pipelines.schedules import nightly, nightly_job

defs = dg.Definitions(
    assets=[*DAILY_ASSETS, *INSIGHT_ASSETS],
    asset_checks=[*ALL_CHECKS, *INSIGHT_CHECKS],
    jobs=[nightly_job, insights_job],
    schedules=[nightly, insights_nightly],
    resources={"apportion": ApportionConfig()},
)
