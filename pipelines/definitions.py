"""The Dagster code location: every asset, check, job, schedule and resource of apportion. The config
(`$APPORTION_CONFIG`, else ./apportion.yaml) is read when the location loads: its `start_date` is the first daily
partition, and a config error shows as the location's load error, naming file and line. Its sources decide
how a backfill is cut into runs (`pipelines.partitions.backfill_policy`)."""

import dagster as dg

from pipelines.assets import DAILY_ASSETS
from pipelines.checks import ALL_CHECKS
from pipelines.insights import INSIGHT_ASSETS, INSIGHT_CHECKS, insights_job, insights_nightly
from pipelines.partitions import for_config
from pipelines.resources import ApportionConfig
from pipelines.schedules import nightly, nightly_job

apportion = ApportionConfig()

defs = dg.Definitions(
    assets=[*for_config(apportion.settings(), DAILY_ASSETS), *INSIGHT_ASSETS],
    asset_checks=[*ALL_CHECKS, *INSIGHT_CHECKS],
    jobs=[nightly_job, insights_job],
    schedules=[nightly, insights_nightly],
    resources={"apportion": apportion},
)
