"""The invariants (`assets.checks`) as asset checks, over the days of the run that materialized the asset."""

from datetime import date, timedelta

import dagster as dg

from assets.checks import INVARIANTS, Invariant, find_violations
from assets.lake import Lake
from pipelines.resources import ApportionConfig


def run_days(context: dg.AssetCheckExecutionContext) -> list[date]:
    """Days of the run: a single partition or a single-run range (asset checks get no partition argument)."""
    tags = context.run.tags
    if "dagster/partition" in tags:
        return [date.fromisoformat(tags["dagster/partition"])]
    start = tags.get("dagster/asset_partition_range_start")
    end = tags.get("dagster/asset_partition_range_end")
    if start and end:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return []


GATES = frozenset({"pieces_conserve_each_line", "reconciliation_difference_is_zero"})
"""The money invariants that block what is downstream of their asset (fact_cost, the warehouse) when they fail.
The others fail the run (severity ERROR) without holding back the day's other tables."""


def _asset_check(name: str, invariant: Invariant) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=invariant.asset, name=name, blocking=name in GATES, description=invariant.description)
    def check(context: dg.AssetCheckExecutionContext, apportion: ApportionConfig) -> dg.AssetCheckResult:
        days = run_days(context)
        violations = find_violations(Lake(apportion.settings().app.lake), invariant, days)
        return dg.AssetCheckResult(
            passed=not violations,
            metadata={
                "days": ", ".join(d.isoformat() for d in days),
                "violations": len(violations),
                "first": str(violations[:5]) if violations else "",
            },
            description=f"{len(violations)} {invariant.what}" if violations else None,
        )

    return check


ALL_CHECKS = [_asset_check(name, invariant) for name, invariant in INVARIANTS.items()]
