"""The Dagster code location: every asset, check, job, schedule and resource of apportion. The config
(`$APPORTION_CONFIG`, else ./apportion.yaml) is read when the location loads: its `start_date` is the first daily
partition, and a config error shows as the location's load error, naming file and line."""

import dagster as dg

from pipelines.assets import DAILY_ASSETS
from pipelines.checks import ALL_CHECKS
from pipelines.insights import INSIGHT_ASSETS, INSIGHT_CHECKS, insights_job, insights_nightly
from pipelines.partitions import starting_on
from pipelines.resources import ApportionConfig
from pipelines.schedules import nightly, nightly_job

apportion = ApportionConfig()

defs = dg.Definitions(
    assets=[*starting_on(apportion.settings().app.start_date, DAILY_ASSETS), *INSIGHT_ASSETS],
    asset_checks=[*ALL_CHECKS, *INSIGHT_CHECKS],
    jobs=[nightly_job, insights_job],
    schedules=[nightly, insights_nightly],
    resources={"apportion": apportion},
)
