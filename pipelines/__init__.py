"""apportion's Dagster code location and CLI."""

import warnings

from dagster import BetaWarning, PreviewWarning

# backfill_policy and asset-check options we rely on are marked beta/preview; the pins in requirements.lock fix
# their behaviour, so the warnings only add noise to every run.
warnings.filterwarnings("ignore", category=BetaWarning)
warnings.filterwarnings("ignore", category=PreviewWarning)
