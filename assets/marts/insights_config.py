"""`config/insights.yaml` as pydantic models: budgets, routing tiers, the business-metric file, alert and anomaly
thresholds. Validated before any data is read; errors name the file, the line and what was expected
(`assets.config.ConfigError`, through `parse_yaml`). Relative paths resolve against the folder of the file.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from assets.config import NAME, ConfigError, parse_yaml, resolve

ENV_NAME = r"^[A-Z_][A-Z0-9_]{0,127}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _snake_name(value: str) -> str:
    if not NAME.match(value):
        raise ValueError("names are lower-case snake_case, at most 63 characters")
    return value


class Budget(_Strict):
    """A monthly budget of one team or one feature, in the reporting currency."""

    name: str
    team: str | None = None
    feature: str | None = None
    monthly_usd: Annotated[Decimal, Field(gt=0, decimal_places=2)]
    valid_from: date | None = Field(default=None, alias="from")
    valid_to: date | None = Field(default=None, alias="to")

    _name = field_validator("name")(classmethod(lambda cls, v: _snake_name(v)))

    @model_validator(mode="after")
    def _one_scope(self) -> Self:
        if (self.team is None) == (self.feature is None):
            raise ValueError("a budget names exactly one of team or feature")
        if self.valid_from and self.valid_to and self.valid_from >= self.valid_to:
            raise ValueError("`from` must be before `to`")
        return self

    @property
    def dimension(self) -> str:
        return "team" if self.team is not None else "feature"

    @property
    def value(self) -> str:
        return self.team if self.team is not None else self.feature  # type: ignore[return-value]


class ModelTier(_Strict):
    provider: str
    model: str


class RoutingRule(_Strict):
    """Calls of `models` (exact names, of `provider`) whose size and shape fit a cheaper model `to`: at most
    `max_input_tokens` in and `max_output_tokens` out, of one of `operations`, optionally only some features."""

    name: str
    provider: str
    models: list[str] = Field(min_length=1)
    to: ModelTier
    max_input_tokens: int = Field(gt=0)
    max_output_tokens: int = Field(gt=0)
    operations: list[str] = Field(default_factory=lambda: ["chat"], min_length=1)
    features: list[str] | None = None

    _name = field_validator("name")(classmethod(lambda cls, v: _snake_name(v)))

    @model_validator(mode="after")
    def _cheaper_elsewhere(self) -> Self:
        if self.to.provider == self.provider and self.to.model in self.models:
            raise ValueError(f"routing target {self.to.model} is one of the models it routes from")
        return self


class BusinessMetrics(_Strict):
    """A CSV, JSON Lines or Parquet file of `date, metric, value[, feature][, customer]`: revenue, tickets
    resolved or any count per day (and feature and customer, where given). Metrics listed in `revenue` are money
    in the reporting currency and get an ROI; the others a cost per unit."""

    file: Path
    revenue: list[str] = Field(default_factory=list)


class Anomalies(_Strict):
    """Daily cost per team, feature, agent and model against its own median and MAD.

    The baseline is the same weekday of the previous `baseline_weeks` weeks when at least `min_weekday_points`
    of them exist, else the previous `trailing_days` days (at least `min_points`). A day is an anomaly when its
    robust z-score `(cost - median) / (1.4826 MAD)` reaches `z_threshold` (or MAD is 0) and it is at least
    `min_deviation_usd` and `min_relative_deviation` times the median away: a few points make a small MAD."""

    baseline_weeks: int = Field(default=6, ge=2, le=52)
    min_weekday_points: int = Field(default=3, ge=2)
    trailing_days: int = Field(default=14, ge=3, le=120)
    min_points: int = Field(default=5, ge=3)
    z_threshold: float = Field(default=4.0, gt=0)
    min_deviation_usd: Annotated[Decimal, Field(ge=0)] = Decimal("1")
    min_relative_deviation: float = Field(default=0.25, ge=0)

    @model_validator(mode="after")
    def _enough(self) -> Self:
        if self.min_weekday_points > self.baseline_weeks:
            raise ValueError("min_weekday_points cannot exceed baseline_weeks")
        if self.min_points > self.trailing_days:
            raise ValueError("min_points cannot exceed trailing_days")
        return self


class Duplicates(_Strict):
    """Prompt repeats a response cache would have served: the same prompt (or, for near duplicates, a SimHash
    within `max_distance` bits) on the same model after a successful call at most `cache_ttl_hours` earlier.
    Candidate pairs come from `blocks` blocks of the 64 bits, `blocks - max_distance` at a time (pigeonhole)."""

    cache_ttl_hours: float = Field(default=24, gt=0)
    max_distance: int = Field(default=3, ge=0, le=16)
    blocks: int = Field(default=6, ge=1, le=16)

    @model_validator(mode="after")
    def _pigeonhole(self) -> Self:
        if self.blocks <= self.max_distance:
            raise ValueError("blocks must be greater than max_distance, so that a near pair shares a block")
        return self


class Forecast(_Strict):
    """A linear trend per team over the last `history_days` days, summed over each horizon, with a
    `interval`-level prediction interval from the residuals."""

    history_days: int = Field(default=56, ge=7, le=730)
    horizons: list[int] = Field(default_factory=lambda: [30, 90], min_length=1)
    interval: float = Field(default=0.8, gt=0, lt=1)

    @field_validator("horizons")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if any(h < 1 or h > 366 for h in value) or len(set(value)) != len(value):
            raise ValueError("horizons are distinct numbers of days from 1 to 366")
        return sorted(value)


class TokenGrowth(_Strict):
    """A day's mean (or p95) prompt size is a spike when it is `spike_factor` times the median of the previous
    seven days'."""

    spike_factor: float = Field(default=1.5, gt=1)


class Alerts(_Strict):
    """Alerts are non-blocking asset checks; with `webhook_url_env` set in the environment they are also posted
    as Slack-compatible JSON to that URL (kept out of config files and logs: it is a secret)."""

    webhook_url_env: str | None = Field(default="APPORTION_ALERT_WEBHOOK", pattern=ENV_NAME)
    at_risk_share: float = Field(default=1.0, gt=0)
    """A budget is at risk when its month-end forecast reaches this share of it."""
    timeout_s: float = Field(default=10, gt=0, le=60)


class InsightsConfig(_Strict):
    """The whole of `config/insights.yaml`."""

    history_days: int = Field(default=180, ge=7, le=3660)
    """Days of history (up to the last charge date) the insight marts read."""
    scorecard_days: int = Field(default=28, ge=1, le=366)
    scorecard_min_calls: int = Field(default=20, ge=1)
    budgets: list[Budget] = Field(default_factory=list)
    routing: list[RoutingRule] = Field(default_factory=list)
    business_metrics: BusinessMetrics | None = None
    anomalies: Anomalies = Anomalies()
    duplicates: Duplicates = Duplicates()
    forecast: Forecast = Forecast()
    token_growth: TokenGrowth = TokenGrowth()
    alerts: Alerts = Alerts()

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        for what, names in (("budget", [b.name for b in self.budgets]), ("routing", [r.name for r in self.routing])):
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise ValueError(f"{what} names must be unique: {', '.join(duplicates)}")
        return self


def load_insights(path: Path | None) -> InsightsConfig:
    """Read and validate `insights.yaml` (defaults when `path` is None); the business-metric file must exist."""
    if path is None:
        return InsightsConfig()
    path = Path(path).resolve()
    config: InsightsConfig = parse_yaml(path, InsightsConfig)
    metrics = config.business_metrics
    if metrics is None:
        return config
    file = resolve(path.parent, metrics.file)
    if not file.is_file():
        raise ConfigError(f"{path}: business_metrics.file: {file} does not exist")
    return config.model_copy(update={"business_metrics": metrics.model_copy(update={"file": file})})
