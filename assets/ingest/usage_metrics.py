"""Generic allocation drivers (`usage_metrics`: vector queries, GPU-seconds, bytes out, review minutes) in the
canonical layout, as CSV(.gz), JSON Lines(.gz) or Parquet chosen by extension; `options.fields` renames."""

from __future__ import annotations

from assets.ingest.base import SourceKind
from assets.ingest.options import CanonicalOptions
from assets.ingest.readers import canonical_reader
from assets.schemas import USAGE_METRICS


class UsageMetricOptions(CanonicalOptions):
    target_schema = USAGE_METRICS


USAGE_METRICS_KIND = SourceKind(
    "usage_metrics",
    "usage_metrics",
    canonical_reader(USAGE_METRICS, frozenset({"csv", "jsonl", "parquet"})),
    options_model=UsageMetricOptions,
)
