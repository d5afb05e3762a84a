"""Resources: where the config is. Secrets never live in config files: each SDK reads its own standard chain."""

from __future__ import annotations

import os
from datetime import date

import dagster as dg

from assets.config import Settings, load_settings


class ApportionConfig(dg.ConfigurableResource):
    """The path of `apportion.yaml` (default: `$APPORTION_CONFIG`, else `apportion.yaml` in the working folder)."""

    path: str = os.environ.get("APPORTION_CONFIG", "apportion.yaml")

    def settings(self) -> Settings:
        return load_settings(self.path)


def partition_days(context: dg.AssetExecutionContext) -> list[date]:
    """The days a run covers: one partition, or a range when a backfill runs as a single run."""
    return [date.fromisoformat(key) for key in context.partition_keys]
