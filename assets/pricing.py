"""The pricing layer: a dated price table from the genai-prices catalog and `config/prices.yaml`, and the
SQL in `sql/pricing/` that prices every call of a day with it.

The table is built in Python for the distinct (provider, model) pairs of the day only, never per call, by
asking genai-prices itself what it charges at each instant where anything can change (a catalog start date,
a time-of-day boundary, an override's `from`/`to`). That keeps its semantics exactly:

- history: a `StartDateConstraint` starts at UTC midnight of its date (`valid_from`/`valid_to`, half-open,
  null = open); a `TimeOfDateConstraint` is a daily UTC window (`time_of_day_start`/`_end`) that wraps past
  midnight when its end is before its start, as genai-prices reads it;
- variants: a `PriceVariant` conditioned on one of `TIER_CONTEXT_KEYS` prices the service tier of that value
  (`processing: batch` → `batch`, `service_tier: flex` → `flex`, `speed: fast` → `fast`, …). Tier rows are
  written only where the tier's prices differ from standard; a call whose tier has no row pays standard, as
  genai-prices does for a context it has no variant for (and for a model borrowed from a fallback provider,
  e.g. Azure → OpenAI);
- tiers: `TieredPrices` charge all tokens of a call at a tier once its total input tokens are strictly above
  the tier's start (`calc_unit_price`), so a tier starting at 200,000 is a row with `min_input_tokens`
  200,001, and a call takes the row with the highest `min_input_tokens` not above its input tokens;
- missing parts: a price the catalog lacks is null; the SQL then charges what genai-prices charges: cache
  tokens without a cache price at the input price, 1-hour cache writes without their own price at the
  cache-write price, input or output without a price at 0.

Overrides win over the catalog; unknown models are never guessed: they get no row and stay unpriced.
"""

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from fnmatch import fnmatchcase
from importlib.metadata import version
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Self

import duckdb
import pyarrow as pa
from genai_prices.types import ModelInfo, ModelPrice, StartDateConstraint, TieredPrices, TimeOfDateConstraint
from pydantic import BaseModel, ConfigDict, Field, model_validator

from assets.catalog import lookup_model
from assets.config import Settings, parse_yaml
from assets.lake import Lake, register_day_view, write_parquet
from assets.schemas import PRICED_USAGE, STAGED_USAGE_EVENTS
from assets.sql import connect, run_model

CATALOG_VERSION = version("genai-prices")
CATALOG_SOURCE = f"genai-prices {CATALOG_VERSION}"
"""`price_source` of catalog prices: the installed catalog package and its version."""

STANDARD = "standard"
TIER_CONTEXT_KEYS = ("processing", "service_tier", "speed")
"""genai-prices price-context keys whose value is a service tier of the call."""

PRICE_KEYS = (
    "input_mtok",
    "cache_read_mtok",
    "cache_write_mtok",
    "cache_write_1h_mtok",
    "output_mtok",
    "requests_kcount",
    "web_searches_kcount",
)
"""Price columns, named as genai-prices names them: USD per million tokens, and per thousand requests or web
searches (server-side tool use, billed per search)."""

_PRICE_QUANTUM = Decimal("1e-10")

PRICE_TABLE_SCHEMA = pa.schema(
    [
        ("provider", pa.string()),
        ("model", pa.string()),
        ("catalog_model", pa.string()),
        ("valid_from", pa.timestamp("us", tz="UTC")),
        ("valid_to", pa.timestamp("us", tz="UTC")),
        ("time_of_day_start", pa.time64("us")),
        ("time_of_day_end", pa.time64("us")),
        ("service_tier", pa.string()),
        ("min_input_tokens", pa.int64()),
        *[(key, pa.decimal128(38, 10)) for key in PRICE_KEYS],
        ("price_source", pa.string()),
    ]
)


# --- config/prices.yaml ------------------------------------------------------------------------------

Price = Annotated[Decimal, Field(ge=0, decimal_places=10)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _Dated(_Strict):
    """`from` (inclusive) and `to` (exclusive) are UTC dates; either may be left out (open)."""

    name: str = Field(min_length=1)
    valid_from: date | None = Field(default=None, alias="from")
    valid_to: date | None = Field(default=None, alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.valid_from and self.valid_to and self.valid_from >= self.valid_to:
            raise ValueError("`from` must be before `to`")
        return self

    def active(self, day: date) -> bool:
        starts = self.valid_from is None or day >= self.valid_from
        return starts and (self.valid_to is None or day < self.valid_to)

    def dates(self) -> Iterator[date]:
        yield from (d for d in (self.valid_from, self.valid_to) if d is not None)


class ModelRef(_Strict):
    provider: str
    model: str


class PriceOverride(_Dated):
    """Explicit prices for a model the catalog lacks or that is negotiated; `model` is exact or a glob. It
    replaces the catalog for the model, whatever the service tier of the call."""

    provider: str
    model: str
    input_mtok: Price | None = None
    cache_read_mtok: Price | None = None
    cache_write_mtok: Price | None = None
    cache_write_1h_mtok: Price | None = None
    output_mtok: Price | None = None
    requests_kcount: Price | None = None
    web_searches_kcount: Price | None = None

    @model_validator(mode="after")
    def _priced(self) -> Self:
        if all(getattr(self, key) is None for key in PRICE_KEYS):
            raise ValueError(f"a price override needs at least one of {', '.join(PRICE_KEYS)}")
        return self

    def matches(self, ref: ModelRef) -> bool:
        return ref.provider == self.provider and fnmatchcase(ref.model, self.model)


class Discount(_Dated):
    """A percentage off the catalog prices of a provider, or of its models matching the glob `model`."""

    provider: str
    model: str | None = None
    percent: Annotated[Decimal, Field(gt=0, le=100)]

    def matches(self, ref: ModelRef) -> bool:
        return ref.provider == self.provider and (self.model is None or fnmatchcase(ref.model, self.model))


class Alias(_Dated):
    """Price calls of `model` (exact or glob; of `provider` if given) as another model, e.g. a Bedrock
    application-inference-profile ARN as the foundation model behind it."""

    provider: str | None = None
    model: str
    price_as: ModelRef

    def matches(self, ref: ModelRef) -> bool:
        return (self.provider is None or ref.provider == self.provider) and fnmatchcase(ref.model, self.model)


class PriceOverrides(_Strict):
    """`config/prices.yaml`. In each list the first entry that matches and is in effect on the day wins."""

    prices: list[PriceOverride] = Field(default_factory=list)
    discounts: list[Discount] = Field(default_factory=list)
    aliases: list[Alias] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        names = [entry.name for entry in self.entries()]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"override names must be unique: {', '.join(duplicates)}")
        return self

    def entries(self) -> Iterator[_Dated]:
        yield from (*self.prices, *self.discounts, *self.aliases)


def load_price_overrides(path: Path) -> PriceOverrides:
    """Read and validate a price-overrides file; errors (`ConfigError`) name the file, the line and what was
    expected."""
    return parse_yaml(Path(path), PriceOverrides)


def price_overrides(settings: Settings) -> PriceOverrides:
    """The `prices:` file of apportion.yaml, validated (none when it names none)."""
    return load_price_overrides(settings.app.prices) if settings.app.prices else PriceOverrides()


# --- the price table ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    """A price row without its validity: what one tier charges from a number of input tokens on."""

    service_tier: str
    min_input_tokens: int
    prices: tuple[Decimal | None, ...]
    catalog_model: str | None
    price_source: str


def _constraints(info: ModelInfo) -> Iterator[StartDateConstraint | TimeOfDateConstraint]:
    conditional = [] if isinstance(info.prices, ModelPrice) else info.prices
    for entry in (*conditional, *(info.price_variants or ())):
        if entry.constraint is not None:
            yield entry.constraint


def _tier_contexts(info: ModelInfo, own: bool) -> dict[str, dict[str, str]]:
    """genai-prices price context of each service tier the model has variants for."""
    contexts: dict[str, dict[str, str]] = {STANDARD: {}}
    variants = (info.price_variants or []) if own else []
    for variant in variants:
        if len(variant.when) == 1:
            ((key, value),) = variant.when.items()
            if key in TIER_CONTEXT_KEYS and value != STANDARD:
                contexts.setdefault(value, {})[key] = value
    return contexts


def _utc_time(value: time) -> time:
    """A constraint's time of day in UTC, converted on 1970-01-01 as genai-prices does; naive is UTC."""
    if value.tzinfo is None:
        return value
    return datetime.combine(date(1970, 1, 1), value).astimezone(UTC).time()


def _price_at(price: Decimal | TieredPrices | None, input_tokens: int) -> Decimal | None:
    """genai-prices' tier choice: the last tier whose start is strictly below the input tokens, else base."""
    if not isinstance(price, TieredPrices):
        return price
    return next((tier.price for tier in reversed(price.tiers) if input_tokens > tier.start), price.base)


def _thresholds(model_price: ModelPrice) -> list[tuple[int, tuple[Decimal | None, ...]]]:
    """(min_input_tokens, prices) for the base and every tier start of any price of `model_price`."""
    values = [getattr(model_price, key) for key in PRICE_KEYS]
    starts = {tier.start + 1 for value in values if isinstance(value, TieredPrices) for tier in value.tiers}
    return [(m, tuple(_price_at(value, m) for value in values)) for m in sorted({0} | starts)]


def _scaled(price: Decimal | None, factor: Decimal) -> Decimal | None:
    """A price × factor at the table's ten decimals (a few catalog prices carry float noise beyond that)."""
    return None if price is None else (price * factor).quantize(_PRICE_QUANTUM)


def _rows_at(usage: ModelRef, day: date, time_of_day: time, overrides: PriceOverrides) -> set[_Row]:
    """The rows a call of `usage` on `day` at `time_of_day` (UTC) may be charged by: one per tier and
    threshold."""
    alias = next((a for a in overrides.aliases if a.active(day) and a.matches(usage)), None)
    target = alias.price_as if alias else usage
    via = f"; alias:{alias.name}" if alias else ""
    catalog = lookup_model(target.provider, target.model)
    catalog_model = catalog[0].id if catalog else None

    explicit = next((o for o in overrides.prices if o.active(day) and o.matches(target)), None)
    if explicit:
        prices = tuple(getattr(explicit, key) for key in PRICE_KEYS)
        return {_Row(STANDARD, 0, prices, catalog_model, f"override:{explicit.name}{via}")}
    if catalog is None:
        return set()

    info, own = catalog
    discount = next((d for d in overrides.discounts if d.active(day) and d.matches(target)), None)
    factor = 1 - discount.percent / 100 if discount else Decimal(1)
    source = CATALOG_SOURCE + (f"; discount:{discount.name}" if discount else "") + via
    at = datetime.combine(day, time_of_day, UTC)
    by_tier = {
        tier: _thresholds(info.get_prices(at, context or None)) for tier, context in _tier_contexts(info, own).items()
    }
    return {
        _Row(tier, m, tuple(_scaled(p, factor) for p in prices), info.id, source)
        for tier, thresholds in by_tier.items()
        if tier == STANDARD or thresholds != by_tier[STANDARD]
        for m, prices in thresholds
    }


def _breakpoints(usage: ModelRef, overrides: PriceOverrides) -> tuple[list[date], list[time]]:
    """The days (UTC midnights) and times of day (UTC) at which what `usage` is charged can change."""
    days = {d for entry in overrides.entries() for d in entry.dates()}
    times: set[time] = set()
    for ref in (usage, *(a.price_as for a in overrides.aliases if a.matches(usage))):
        catalog = lookup_model(ref.provider, ref.model)
        for constraint in _constraints(catalog[0]) if catalog else ():
            if isinstance(constraint, StartDateConstraint):
                days.add(constraint.start_date)
            else:
                times.update((_utc_time(constraint.start_time), _utc_time(constraint.end_time)))
    return sorted(days), sorted(times)


def _daily_windows(segments: set[int], times: list[time]) -> list[tuple[time | None, time | None]]:
    """Merge time-of-day segments (segment j runs from times[j] to the next time, cyclically) into windows;
    (None, None) is the whole day."""
    n = len(times)
    if n == 0 or len(segments) == n:
        return [(None, None)]
    windows = []
    for first in sorted(j for j in segments if (j - 1) % n not in segments):
        last = first
        while (last + 1) % n in segments:
            last = (last + 1) % n
        windows.append((times[first], times[(last + 1) % n]))
    return windows


def _runs(indices: Iterable[int]) -> Iterator[tuple[int, int]]:
    """(first, last) of each run of consecutive integers."""
    ordered = sorted(indices)
    start = ordered[0]
    for previous, current in pairwise(ordered):
        if current != previous + 1:
            yield start, previous
            start = current
    yield start, ordered[-1]


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), UTC)


def _price_rows(usage: ModelRef, overrides: PriceOverrides) -> list[dict[str, Any]]:
    """The price-table rows of one (provider, model) pair of the usage, merged over days and times of day."""
    days, times = _breakpoints(usage, overrides)
    day_starts = [date.min, *days]
    presence: dict[_Row, dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
    for i, day in enumerate(day_starts):
        for j, time_of_day in enumerate(times or [time(0)]):
            for row in _rows_at(usage, day, time_of_day, overrides):
                presence[row][i].add(j)

    rows = []
    for row, segments_by_day in presence.items():
        days_by_window: dict[tuple[time | None, time | None], list[int]] = defaultdict(list)
        for i, segments in segments_by_day.items():
            for window in _daily_windows(segments, times):
                days_by_window[window].append(i)
        for (start, end), day_indices in days_by_window.items():
            for first, last in _runs(day_indices):
                rows.append(
                    {
                        "provider": usage.provider,
                        "model": usage.model,
                        "catalog_model": row.catalog_model,
                        "valid_from": _midnight(days[first - 1]) if first else None,
                        "valid_to": _midnight(days[last]) if last < len(days) else None,
                        "time_of_day_start": start,
                        "time_of_day_end": end,
                        "service_tier": row.service_tier,
                        "min_input_tokens": row.min_input_tokens,
                        **dict(zip(PRICE_KEYS, row.prices, strict=True)),
                        "price_source": row.price_source,
                    }
                )
    return sorted(rows, key=_row_order)


def _row_order(row: dict[str, Any]) -> tuple:
    valid_from, start = row["valid_from"], row["time_of_day_start"]
    return (
        row["service_tier"] != STANDARD,
        row["service_tier"],
        valid_from is not None,
        valid_from or _midnight(date.min),
        start is not None,
        start or time(0),
        row["min_input_tokens"],
    )


def build_price_table(pairs: Iterable[tuple[str, str]], overrides: PriceOverrides) -> pa.Table:
    """The dated price table for these (provider, model) pairs of the usage."""
    rows = [
        row
        for provider, model in sorted(set(pairs))
        for row in _price_rows(ModelRef(provider=provider, model=model), overrides)
    ]
    return pa.Table.from_pylist(rows, schema=PRICE_TABLE_SCHEMA)


def price_usage(con: duckdb.DuckDBPyConnection, overrides: PriceOverrides) -> None:
    """Price the calls of the view `usage_day`: registers `price_table` and `price_boxes` (it resolved per box of
    instants and input tokens), and creates the views `priced_day` (every call with `list_cost`, `catalog_model`,
    `price_source`) and `unpriced_models`."""
    pairs = run_model(con, "pricing/usage_models")
    con.register("price_table", build_price_table(pairs, overrides))
    run_model(con, "pricing/price_boxes")
    run_model(con, "pricing/price_lookup")
    run_model(con, "pricing/priced_day")
    run_model(con, "pricing/unpriced_models")


def price_day(settings: Settings, day: date) -> dict[str, Any]:
    """Write the `priced_usage` partition of `day`; returns the row count and the models left unpriced.

    The calls keep the order of the staged partition (its files by name, each in its own order): a call meets at
    most one price box, so pricing is a streaming lookup that DuckDB runs in insertion order, with no sort of the
    wide rows; the same staged input gives the same file byte for byte."""
    lake = Lake(settings.app.lake)
    overrides = price_overrides(settings)
    con = connect(memory_limit=settings.app.memory_limit, temp_directory=lake.tmp_dir(), keep_order=True)
    register_day_view(con, lake, "usage_events", day, "usage_day", STAGED_USAGE_EVENTS)
    price_usage(con, overrides)
    target = lake.partition_file("priced_usage", day)
    rows = write_parquet(con, "select * from priced_day", target)
    register_day_view(con, lake, "priced_usage", day, "priced_day", PRICED_USAGE)
    unpriced = con.execute("select provider, model, calls from unpriced_models order by calls desc").fetchall()
    con.close()
    return {"rows": rows, "unpriced": unpriced}
