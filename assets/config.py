"""`apportion.yaml` and `allocation.yaml` as pydantic models, validated before any data is touched.

Errors name the file, the line of the YAML and what was expected (`ConfigError`). Relative paths in a config file
resolve against the folder of that file, so a config works from any working directory.
"""

from __future__ import annotations

import csv
import re
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from assets.schemas import COST_CATEGORIES, DIMENSIONS

NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

MATCH_ATTRIBUTES = (
    "ServiceProviderName",
    "InvoiceIssuerName",
    "HostProviderName",
    "ServiceCategory",
    "ServiceSubcategory",
    "ServiceName",
    "ChargeCategory",
    "ChargeDescription",
    "CommitmentDiscountStatus",
    "CapacityReservationStatus",
    "BillingAccountId",
    "SubAccountId",
    "ResourceId",
    "ResourceType",
    "RegionId",
    "SkuId",
    "SkuMeter",
    "PricingUnit",
    "ConsumedUnit",
    "SkuPriceDetails",
    "x_CostCategory",
    "x_Provider",
    "x_Model",
    "x_CatalogModel",
    "x_TokenType",
    "x_ServiceTier",
    "x_ApiKeyId",
    "x_Source",
)
"""Cost-line columns that rule and category conditions may test; `tag:<key>` tests a tag."""

EVENT_KEYS = ("provider", "model", "operation", "api_key_id", "service_tier", *DIMENSIONS)
"""Columns of a staged usage event that a usage spread may filter its driver by."""

USAGE_KEYS = (*EVENT_KEYS, "catalog_model")
"""Usage columns a `usage` rule may join cost lines on: the events' own, and the catalog model pricing gave them."""

METRIC_KEYS = ("provider", "resource_id", *DIMENSIONS)
"""Usage-metric columns a spread may filter its `metric:<name>` driver by."""


class ConfigError(ValueError):
    """A config file is invalid; the message names the file, the line and what was expected."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _check_attribute(attribute: str) -> str:
    if attribute.startswith("tag:") and len(attribute) > 4:
        return attribute
    if attribute not in MATCH_ATTRIBUTES:
        raise ValueError(f"unknown attribute {attribute!r}: use tag:<key> or one of {', '.join(MATCH_ATTRIBUTES)}")
    return attribute


class Condition(_Strict):
    """One test of a cost line. Exactly one of the operators is given."""

    attribute: str
    equals: list[str] | None = Field(default=None, alias="in")
    not_in: list[str] | None = None
    like: list[str] | None = None
    regex: str | None = None
    exists: bool | None = None

    _check = field_validator("attribute")(classmethod(lambda cls, v: _check_attribute(v)))

    @field_validator("equals", "not_in", "like", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str | int | float) else value

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        return value if value is None else _compiles(value)

    @model_validator(mode="after")
    def _one_operator(self) -> Condition:
        given = [op for op in ("equals", "not_in", "like", "regex", "exists") if getattr(self, op) is not None]
        if len(given) != 1:
            raise ValueError(
                f"a condition takes exactly one of in, not_in, like, regex, exists (got {given or 'none'})"
            )
        return self


def _compiles(pattern: str) -> str:
    """A regex that compiles; `re.error` is no ValueError, so pydantic would not report it with its line."""
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"regex {pattern!r}: {exc}") from None
    return pattern


def _conditions(value: Any) -> Any:
    """`match` is written as a mapping `{attribute: values}` or `{attribute: {operator: value}}`."""
    if not isinstance(value, dict):
        return value
    out = []
    for attribute, test in value.items():
        if isinstance(test, dict):
            out.append({"attribute": attribute, **test})
        elif isinstance(test, bool):
            out.append({"attribute": attribute, "exists": test})
        else:
            out.append({"attribute": attribute, "in": test})
    return out


Match = Annotated[list[Condition], Field(default_factory=list)]


class Target(_Strict):
    """A fixed destination of an `even` or `fixed` rule: dimension values and, for `fixed`, a weight."""

    team: str | None = None
    feature: str | None = None
    customer: str | None = None
    agent: str | None = None
    workflow: str | None = None
    weight: float | None = None


class Rule(_Strict):
    name: str
    priority: int
    method: Literal["tags", "usage", "cost", "even", "fixed"]
    match: Match
    description: str | None = None
    effective_from: date | None = None
    effective_to: date | None = None
    # tags: each dimension from the first source that has a value: `tag:<key>` or `owner:<owner name>`
    dimensions: dict[str, list[str]] | None = None
    require: list[str] = Field(default_factory=lambda: ["team"])
    # usage: the driver and the keys that join a cost line to usage of the same day
    driver: str | None = None
    join: dict[str, str] | None = None
    # cost: the rules whose allocation is the basis
    basis: list[str] | None = None
    # even / fixed
    targets: list[Target] | None = None

    _match = field_validator("match", mode="before")(classmethod(lambda cls, v: _conditions(v)))

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("rule names are lower-case snake_case, at most 63 characters")
        return value

    @model_validator(mode="after")
    def _method_fields(self) -> Rule:
        needs = {
            "tags": ["dimensions"],
            "usage": ["driver", "join"],
            "cost": ["basis"],
            "even": ["targets"],
            "fixed": ["targets"],
        }[self.method]
        missing = [f for f in needs if getattr(self, f) is None]
        if missing:
            raise ValueError(f"method {self.method} needs {', '.join(missing)}")
        if self.dimensions:
            for dimension, sources in self.dimensions.items():
                if dimension not in DIMENSIONS:
                    raise ValueError(f"unknown dimension {dimension!r}: expected one of {', '.join(DIMENSIONS)}")
                for source in sources:
                    if not (source.startswith(("tag:", "owner:")) and len(source.split(":", 1)[1]) > 0):
                        raise ValueError(f"dimension source {source!r} must be tag:<key> or owner:<name>")
        for dimension in self.require:
            if dimension not in DIMENSIONS:
                raise ValueError(f"unknown dimension {dimension!r} in require")
        if self.join:
            for line_attribute, usage_key in self.join.items():
                _check_attribute(line_attribute)
                if usage_key not in USAGE_KEYS:
                    raise ValueError(f"join key {usage_key!r} is not a usage column: one of {', '.join(USAGE_KEYS)}")
        if self.driver is not None:
            _check_driver(self.driver)
        if self.method == "fixed":
            weights = [t.weight for t in self.targets or []]
            if any(w is None or w <= 0 for w in weights):
                raise ValueError("every target of a fixed rule needs a positive weight")
            if abs(sum(weights) - 1) > 1e-9:  # type: ignore[arg-type]
                raise ValueError(f"weights of a fixed rule must sum to 1 (they sum to {sum(weights):g})")  # type: ignore[arg-type]
        if self.method == "even" and any(t.weight is not None for t in self.targets or []):
            raise ValueError("an even rule splits equally: remove the weights or use method fixed")
        if self.effective_from and self.effective_to and self.effective_to <= self.effective_from:
            raise ValueError("effective_to must be after effective_from")
        return self


DRIVERS = ("list_cost", "tokens", "input_tokens", "output_tokens", "requests")


def _check_driver(driver: str) -> None:
    if driver in DRIVERS or (driver.startswith("metric:") and NAME.match(driver[7:])):
        return
    raise ValueError(f"unknown driver {driver!r}: one of {', '.join(DRIVERS)} or metric:<name>")


class CostCategoryRule(_Strict):
    category: str
    match: Match

    _match = field_validator("match", mode="before")(classmethod(lambda cls, v: _conditions(v)))

    _category = field_validator("category")(classmethod(lambda cls, v: _known_category(v)))


TOKEN_TYPES = ("input", "output", "cache_read", "cache_write", "cache_storage")
"""What the tokens of an AI line are (`x_TokenType`)."""

AI_LINE_DEFAULTS = Path(__file__).with_name("ai_lines.yaml")
"""The shipped AI-line rules (Bedrock, Azure OpenAI / AI Foundry, Vertex / Gemini, OCI, FOCUS AI columns)."""


class Extract(_Strict):
    """A value an AI-line rule gives a line: `value` as written, or read `from` an attribute — the first capture
    group of `regex` (the whole match when it has none), or the key of the first `cases` regex that matches.
    `lower` lower-cases the result and turns spaces into hyphens (a meter's "GPT 4o" → `gpt-4o`)."""

    value: str | None = None
    source: str | None = Field(default=None, alias="from")
    regex: str | None = None
    cases: dict[str, str] | None = None
    lower: bool = False

    @model_validator(mode="before")
    @classmethod
    def _literal(cls, value: Any) -> Any:
        return {"value": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _form(self) -> Extract:
        if (self.value is None) == (self.source is None):
            raise ValueError("give either a value or `from` (with regex or cases, or neither to copy it)")
        if self.regex is not None and self.cases is not None:
            raise ValueError("give regex or cases, not both")
        if self.source is not None:
            _check_attribute(self.source)
        for pattern in [self.regex, *(self.cases or {}).values()]:
            if pattern is not None:
                _compiles(pattern)
        return self

    def values(self) -> list[str]:
        """The values it can give without reading a line (a literal or the keys of `cases`)."""
        return [self.value] if self.value is not None else list(self.cases or {})


class AiLineRule(_Strict):
    """How to read an AI line of a cloud bill: what it matches and what it gives the line. A line takes the first
    rule that matches; a column the bill's reader already filled keeps its value."""

    name: str
    match: Match
    provider: list[Extract] | None = None  # one, or a list: the first that gives a value wins
    model: list[Extract] | None = None
    token_type: list[Extract] | None = None
    service_tier: list[Extract] | None = None
    consumer: list[Extract] | None = None
    category: str | None = None
    tokens_per_unit: int | None = Field(default=None, gt=0)

    _match = field_validator("match", mode="before")(classmethod(lambda cls, v: _conditions(v)))
    _category = field_validator("category")(classmethod(lambda cls, v: v if v is None else _known_category(v)))

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("AI-line rule names are lower-case snake_case, at most 63 characters")
        return value

    @field_validator("provider", "model", "token_type", "service_tier", "consumer", mode="before")
    @classmethod
    def _alternatives(cls, value: Any) -> Any:
        return value if value is None or isinstance(value, list) else [value]

    @model_validator(mode="after")
    def _token_types(self) -> AiLineRule:
        unknown = [t for e in self.token_type or [] for t in e.values() if t not in TOKEN_TYPES]
        if unknown:
            raise ValueError(f"unknown token type {unknown[0]!r}: one of {', '.join(TOKEN_TYPES)}")
        return self


def _known_category(value: str) -> str:
    if value not in COST_CATEGORIES:
        raise ValueError(f"unknown cost category {value!r}: one of {', '.join(COST_CATEGORIES)}")
    return value


class Owner(_Strict):
    """A mapping file (CSV with a `key` column and dimension columns) keyed by one cost-line attribute."""

    name: str
    file: Path
    key: str

    _key = field_validator("key")(classmethod(lambda cls, v: _check_attribute(v)))


class AllocationConfig(_Strict):
    owners: list[Owner] = Field(default_factory=list)
    cost_categories: list[CostCategoryRule] = Field(default_factory=list)
    ai_lines: list[AiLineRule] = Field(default_factory=list)
    ai_line_defaults: bool = True
    rules: list[Rule]

    @model_validator(mode="after")
    def _references(self) -> AllocationConfig:
        names = [r.name for r in self.rules]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"rule names must be unique: {', '.join(duplicates)}")
        priorities = [r.priority for r in self.rules]
        if len(set(priorities)) != len(priorities):
            raise ValueError("rule priorities must be unique, so that the first matching rule is well defined")
        owners = {o.name for o in self.owners}
        for rule in self.rules:
            for source in (s for sources in (rule.dimensions or {}).values() for s in sources):
                if source.startswith("owner:") and source[6:] not in owners:
                    raise ValueError(f"rule {rule.name}: owner {source[6:]!r} is not declared under owners")
        _check_cost_rule_graph(self.rules)
        return self

    def ordered_rules(self) -> list[Rule]:
        return sorted(self.rules, key=lambda r: r.priority)

    def ai_line_rules(self) -> list[AiLineRule]:
        """The file's own `ai_lines` first, then the shipped defaults unless `ai_line_defaults: false`."""
        return [*self.ai_lines, *(default_ai_lines() if self.ai_line_defaults else [])]


@cache
def default_ai_lines() -> list[AiLineRule]:
    """The shipped AI-line rules (`assets/ai_lines.yaml`), validated as a user's are."""
    return parse_yaml(AI_LINE_DEFAULTS, _AiLines).ai_lines


class _AiLines(_Strict):
    ai_lines: list[AiLineRule]


def _check_cost_rule_graph(rules: list[Rule]) -> None:
    """Cost rules form a DAG. A basis must also come earlier (smaller priority): a rule's allocation is only
    complete once every rule before it has taken its lines, which is what makes first-match-wins well defined."""
    by_name = {r.name: r for r in rules}
    for rule in rules:
        for basis in rule.basis or []:
            if basis not in by_name:
                raise ValueError(f"rule {rule.name}: basis rule {basis!r} does not exist")
    visiting: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        if name in visiting:
            cycle = [*visiting[visiting.index(name) :], name]
            raise ValueError(f"cost rules form a cycle: {' -> '.join(cycle)}")
        visiting.append(name)
        for basis in by_name[name].basis or []:
            visit(basis)
        visiting.pop()
        done.add(name)

    for rule in rules:
        visit(rule.name)
    for rule in rules:
        for basis in rule.basis or []:
            if by_name[basis].priority >= rule.priority:
                raise ValueError(
                    f"rule {rule.name}: basis rule {basis} must have a smaller priority "
                    f"({by_name[basis].priority} >= {rule.priority})"
                )


SourceKindName = str


SPREAD_DRIVERS = ("requests", "tokens", "input_tokens", "output_tokens")


class Spread(_Strict):
    """How a cost line whose charge period spans several days is spread over them: `even` (equal shares), or
    `usage`: in proportion to a usage driver of each day of the period (`driver`: requests, tokens, input_tokens,
    output_tokens of the staged usage events, or `metric:<name>` of the staged usage metrics), counting only the
    usage rows whose columns have the values in `match` (`{provider: pinecone}`, `{team: [a, b]}`). `lines`
    (conditions as in a rule's `match`, on the line as the source gives it) picks the lines spread by usage; the
    source's other lines are spread evenly."""

    method: Literal["even", "usage"] = "even"
    driver: str | None = None
    match: dict[str, list[str]] = Field(default_factory=dict)
    lines: Match

    _lines = field_validator("lines", mode="before")(classmethod(lambda cls, v: _conditions(v)))

    @field_validator("match", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: [v] if isinstance(v, str | int | float) else v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _driver(self) -> Spread:
        if self.method == "even":
            if self.driver is not None or self.match or self.lines:
                raise ValueError("an even spread takes no driver, match or lines: use method usage")
            return self
        if self.driver == "list_cost":
            raise ValueError(
                "driver list_cost is not available to a spread: calls are priced after staging; "
                f"use one of {', '.join(SPREAD_DRIVERS)} or metric:<name>"
            )
        if self.driver is None or not (self.driver in SPREAD_DRIVERS or self._metric_driver()):
            raise ValueError(
                f"a usage spread needs a driver: one of {', '.join(SPREAD_DRIVERS)} or metric:<name> "
                f"(got {self.driver!r})"
            )
        keys = METRIC_KEYS if self.driver.startswith("metric:") else EVENT_KEYS
        for key in self.match:
            if key not in keys:
                raise ValueError(f"match key {key!r} is not a column of the driver's usage: one of {', '.join(keys)}")
        return self

    def _metric_driver(self) -> bool:
        return self.driver is not None and self.driver.startswith("metric:") and bool(NAME.match(self.driver[7:]))

    @property
    def usage_table(self) -> str | None:
        """The staging table the driver is read from (None for an even spread)."""
        if self.method == "even":
            return None
        return "usage_metrics" if self._metric_driver() else "usage_events"


class Source(_Strict):
    """One input: a name, a kind (the format) and a local file, glob or folder. `{date}` in the path selects the
    files of one day (`usage/{date}/*.jsonl`), so a nightly run reads only that day's files. `spread` (cost
    sources) says how a line spanning several days is spread over them.

    `role` of a usage source: `driver` (its calls split cost lines) or `coverage` (a vendor's own usage report,
    counting every call it served: never a driver nor a call in fact_cost or the insights; where it exceeds the
    logged calls of a `usage` rule's keys, the excess is a 'calls never logged' piece of the line)."""

    name: str
    kind: SourceKindName
    path: str
    role: Literal["driver", "coverage"] = "driver"
    options: dict[str, Any] = Field(default_factory=dict)
    spread: Spread = Field(default_factory=Spread)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("source names are lower-case snake_case, at most 63 characters")
        return value

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        from assets.ingest import SOURCE_KINDS

        if value not in SOURCE_KINDS:
            raise ValueError(f"unknown source kind {value!r}: one of {', '.join(sorted(SOURCE_KINDS))}")
        return value

    @field_validator("options")
    @classmethod
    def _options_suit_the_kind(cls, options: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        """The options parse as the kind's `options_model` (the path in the context, for options that depend on it).
        An error keeps the option's place (`sources.0.options.fields.team`, also where a kind's message starts with
        `options.fields.team: `), so that it is reported with its line; an unknown option lists the kind's."""
        from assets.ingest import SOURCE_KINDS

        kind = SOURCE_KINDS.get(info.data.get("kind", ""))
        if kind is None:
            return options
        model = kind.options_model
        try:
            model.model_validate(options, context={"path": info.data.get("path", "")})
        except ValidationError as exc:
            known = ", ".join(f.alias or name for name, f in model.model_fields.items()) or "none"
            errors: list[InitErrorDetails] = []
            for error in exc.errors():
                loc, message = error["loc"], error["msg"].removeprefix("Value error, ")
                head, colon, rest = message.partition(": ")
                if colon and head.startswith("options."):
                    loc, message = tuple(int(p) if p.isdigit() else p for p in head.split(".")[1:]), rest
                if error["type"] == "extra_forbidden":
                    message = f"not an option of kind {kind.name}; it reads {known}"
                details = {"message": message}
                errors.append(
                    {"type": PydanticCustomError("option", "{message}", details), "loc": loc, "input": error["input"]}
                )
            raise ValidationError.from_exception_data(exc.title, errors) from None
        return options

    @property
    def target(self) -> str:
        """The staging table the source's kind writes."""
        from assets.ingest import SOURCE_KINDS

        return SOURCE_KINDS[self.kind].target

    @model_validator(mode="after")
    def _fits_its_target(self) -> Source:
        if self.spread.method != "even" and self.target != "cost_lines":
            raise ValueError(f"spread: only cost sources are spread over days (kind {self.kind} stages {self.target})")
        if self.role == "coverage" and self.target != "usage_events":
            raise ValueError(f"role coverage needs a usage source (kind {self.kind} reads cost lines or metrics)")
        return self


DEFAULT_START_DATE = date(2020, 1, 1)
"""Early enough for years of bills (cloud exports keep 13 to 36 months; the public sample CUR is of 2023-11), while
the daily partitions from it stay a list Dagster's UI and backfills handle easily (~365 a year)."""


class AppConfig(_Strict):
    """The whole of `apportion.yaml`."""

    warehouse: Path = Path("data/warehouse.duckdb")
    lake: Path = Path("data/lake")
    reporting_currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    fx_rates: Path | None = None
    """CSV `date,currency,rate`: units of the reporting currency per unit of `currency` on that date."""
    max_fx_age_days: int = Field(default=7, ge=1, le=366)
    """A line uses the newest rate dated on or before its charge day, if at most this old."""
    cost_metric: Literal["EffectiveCost", "BilledCost"] = "EffectiveCost"
    max_quarantined_share: Decimal = Field(default=Decimal("0.01"), ge=0, le=1)
    """A source's day whose quarantined cost is more than this share of its cost (staged + quarantined, absolute
    amounts) is `complete = false` in reconciliation, with the reason."""
    allocation: Path = Path("allocation.yaml")
    prices: Path | None = Path("prices.yaml")
    insights: Path | None = None
    """Budgets, routing tiers, business metrics and alert thresholds for the insight marts (config/insights.yaml)."""
    lookback_days: int = Field(default=3, ge=0, le=62)
    memory_limit: str = "4GB"
    start_date: date = DEFAULT_START_DATE
    """The first day that can be run: the first daily partition, in the CLI and in Dagster alike."""
    sources: list[Source]

    @field_validator("sources")
    @classmethod
    def _unique(cls, sources: list[Source]) -> list[Source]:
        names = [s.name for s in sources]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"source names must be unique: {', '.join(duplicates)}")
        targets = {s.target for s in sources}
        for source in sources:
            needed = source.spread.usage_table
            if needed and needed not in targets:
                raise ValueError(
                    f"source {source.name}: spread driver {source.spread.driver} is read from {needed}, "
                    f"but no configured source stages {needed}"
                )
        return sources

    @property
    def coverage_sources(self) -> list[str]:
        """Names of the sources with role `coverage`."""
        return [s.name for s in self.sources if s.role == "coverage"]


class Settings(BaseModel):
    """Everything a run needs, loaded and validated together."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    path: Path
    app: AppConfig
    allocation: AllocationConfig
    fx_rates: tuple[tuple[date, str, Decimal], ...] = ()

    @property
    def root(self) -> Path:
        return self.path.parent


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the YAML node at pydantic location `loc`, as far as it can be followed."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def _bad_date(node: yaml.Node | None, key: str = "") -> str:
    """`line: key` of the first value YAML takes for a date (YYYY-MM-DD…) that is no date."""
    if isinstance(node, yaml.MappingNode):
        found = (_bad_date(v, k.value) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        found = (_bad_date(v, key) for v in node.value)
    elif isinstance(node, yaml.ScalarNode) and node.tag.endswith(":timestamp"):
        try:
            date.fromisoformat(node.value[:10])
            return ""
        except ValueError:
            return f"{node.start_mark.line + 1}: {key}"
    else:
        return ""
    return next((where for where in found if where), "")


def parse_yaml(path: Path, model: type[BaseModel]) -> Any:
    """Load `path` into `model`, turning YAML and validation errors into one `ConfigError` with lines."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from exc
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    except ValueError as exc:  # a value YAML reads as a date that is none, such as `start_date: 2023-13-01`
        raise ConfigError(f"{path}:{_bad_date(node)}: not a valid date ({exc})") from None
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            where = ".".join(str(p) for p in loc) or "(top level)"
            line = _line_of(node, loc)
            message = error["msg"].removeprefix("Value error, ")
            lines.append(f"{path}:{line}: {where}: {message}" if line else f"{path}: {where}: {message}")
        raise ConfigError("\n".join(lines)) from None


def resolve(base: Path, path: Path) -> Path:
    return path if path.is_absolute() else (base / path)


def load_fx_rates(path: Path) -> tuple[tuple[date, str, Decimal], ...]:
    """Read and check an FX rates file; an error names the file, the line and the column."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read FX rates file ({exc.strerror})") from exc
    rates: dict[tuple[date, str], Decimal] = {}
    with handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"date", "currency", "rate"} <= set(reader.fieldnames):
            raise ConfigError(f"{path}:1: expected the columns date,currency,rate (got {reader.fieldnames})")
        for line, row in enumerate(reader, start=2):
            try:
                day = date.fromisoformat(row["date"].strip())
            except ValueError:
                raise ConfigError(f"{path}:{line}: date: expected YYYY-MM-DD, got {row['date']!r}") from None
            currency = row["currency"].strip().upper()
            if not re.fullmatch(r"[A-Z]{3}", currency):
                raise ConfigError(f"{path}:{line}: currency: expected a three-letter code, got {row['currency']!r}")
            try:
                rate = Decimal(row["rate"].strip())
            except InvalidOperation:
                raise ConfigError(f"{path}:{line}: rate: expected a decimal number, got {row['rate']!r}") from None
            if not rate.is_finite() or rate <= 0:
                raise ConfigError(f"{path}:{line}: rate: must be a positive number, got {row['rate']!r}")
            if (day, currency) in rates and rates[(day, currency)] != rate:
                raise ConfigError(f"{path}:{line}: two different rates for {currency} on {day}")
            rates[(day, currency)] = rate
    return tuple((d, c, r) for (d, c), r in sorted(rates.items()))


def check_owner_file(allocation_path: Path, name: str, path: Path) -> None:
    """An owner file exists and its header is `key` and dimension columns (an unknown one would be ignored)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), [])
    except OSError:
        raise ConfigError(f"{allocation_path}: owners.{name}: file {path} does not exist") from None
    unknown = [c for c in header if c != "key" and c not in DIMENSIONS]
    if "key" not in header or unknown:
        raise ConfigError(
            f"{path}:1: owners.{name}: expected the columns key and any of {', '.join(DIMENSIONS)}"
            + (f" (unknown: {', '.join(unknown)})" if unknown else " (no key column)")
        )


def load_settings(path: str | Path = "apportion.yaml") -> Settings:
    """Read and validate `apportion.yaml` and the files it names; nothing reads data before this passes."""
    path = Path(path).resolve()
    app: AppConfig = parse_yaml(path, AppConfig)
    base = path.parent
    allocation_path = resolve(base, app.allocation)
    allocation: AllocationConfig = parse_yaml(allocation_path, AllocationConfig)
    for owner in allocation.owners:
        check_owner_file(allocation_path, owner.name, resolve(allocation_path.parent, owner.file))
    app = app.model_copy(
        update={
            "warehouse": resolve(base, app.warehouse),
            "lake": resolve(base, app.lake),
            "allocation": allocation_path,
            "prices": resolve(base, app.prices) if app.prices else None,
            "fx_rates": resolve(base, app.fx_rates) if app.fx_rates else None,
            "insights": resolve(base, app.insights) if app.insights else None,
        }
    )
    allocation = allocation.model_copy(
        update={
            "owners": [
                o.model_copy(update={"file": resolve(allocation_path.parent, o.file)}) for o in allocation.owners
            ]
        }
    )
    fx_rates = load_fx_rates(app.fx_rates) if app.fx_rates else ()
    return Settings(path=path, app=app, allocation=allocation, fx_rates=fx_rates)
