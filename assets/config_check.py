"""Every config file of a run, checked together before any data is read (`apportion check-config`, and the first
step of `apportion run`): `apportion.yaml` with each source's `options` (the kind's model,
`assets.ingest.options`), the allocation rules and their owner files, the FX rates, `prices.yaml` and
`insights.yaml`. Each error is a `ConfigError` naming the file and the line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from assets.config import Settings, load_settings
from assets.marts.insights_config import InsightsConfig, load_insights
from assets.pricing import PriceOverrides, price_overrides


@dataclass(frozen=True)
class CheckedConfig:
    settings: Settings
    prices: PriceOverrides
    insights: InsightsConfig


def load_checked(path: str | Path) -> CheckedConfig:
    """Load and validate every config file that `path` (apportion.yaml) names; reads no data."""
    settings = load_settings(path)
    return CheckedConfig(settings, price_overrides(settings), load_insights(settings.app.insights))
