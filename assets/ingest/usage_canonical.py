"""Usage events in the canonical layout: JSON Lines (`usage_jsonl`, optionally gzipped) or Parquet
(`usage_parquet`) whose field names are the `usage_events` column names; `options.fields` maps a column to the
file's own name for it, e.g. `{"team": "team_name"}`."""

from __future__ import annotations

from assets.ingest.base import SourceKind
from assets.ingest.options import CanonicalOptions
from assets.ingest.readers import canonical_reader
from assets.ingest.validate import RowCheck
from assets.schemas import USAGE_EVENTS

USAGE_EVENT_CHECKS: tuple[RowCheck, ...] = (
    RowCheck(
        "cache_read_tokens",
        "input_tokens is null or "
        "coalesce(cache_read_tokens, 0)::hugeint + coalesce(cache_write_tokens, 0) <= input_tokens",
        "cache read + cache write tokens exceed input tokens",
    ),
    RowCheck(
        "reasoning_tokens",
        "output_tokens is null or coalesce(reasoning_tokens, 0) <= output_tokens",
        "reasoning tokens exceed output tokens",
    ),
    RowCheck("attempt", "attempt is null or attempt >= 1", "attempt must be 1 or more (1 = first try)", shown=True),
    RowCheck(
        "cache_write_1h_tokens",
        "cache_write_tokens is null or coalesce(cache_write_1h_tokens, 0) <= cache_write_tokens",
        "1-hour cache write tokens exceed cache write tokens",
    ),
)
"""Token buckets are parts of their totals whatever the source (`assets.schemas.USAGE_EVENTS`); checked where
the total is known. `attempt` counts tries from 1: a 0 would be neither a first try nor a retry."""


class UsageEventOptions(CanonicalOptions):
    """Options `fields` and `provider` (the provider of a call whose record names none)."""

    target_schema = USAGE_EVENTS
    provider: str | None = None


USAGE_JSONL = SourceKind(
    "usage_jsonl",
    "usage_events",
    canonical_reader(USAGE_EVENTS, frozenset({"jsonl"})),
    USAGE_EVENT_CHECKS,
    options_model=UsageEventOptions,
)
USAGE_PARQUET = SourceKind(
    "usage_parquet",
    "usage_events",
    canonical_reader(USAGE_EVENTS, frozenset({"parquet"})),
    USAGE_EVENT_CHECKS,
    options_model=UsageEventOptions,
)
