"""The insight marts: why costs grow and where to cut them, over the history in the lake.

What can be computed for one day is, in the day's graph: `build_insight_day` runs the models of
`sql/marts/insights_daily/` over the day's partitions of `fact_cost`, `priced_usage`, `allocated_lines` and
`cost_lines` (and, for the response-cache look-back, the prompt aggregates of the days within the cache TTL before)
and writes each as a daily partition `<lake>/insights/<name>/charge_date=<day>/data.parquet` (atomically: a re-run
replaces it). The marts (`sql/marts/insights/<table>.sql`) read only those compact aggregates, never the calls, so
a night's cost grows with the aggregates' size, not the calls'; each is written atomically as
`<lake>/marts/<table>/data.parquet`. "Today" is the last charge date with cost, never the wall clock, so a re-run
over the same lake gives the same files. Budget and anomaly alerts are non-blocking asset checks that can
also post to a Slack-compatible webhook whose URL is read from the environment.
"""

import json
import logging
import math
import statistics
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import combinations
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import pyarrow as pa

from assets.config import Settings, resolve
from assets.ingest.readers import canonical_reader, sql_string
from assets.ingest.validate import cast_or_reject
from assets.lake import Lake, register_files_view, write_parquet
from assets.marts.facts import ALLOCATED_LINES
from assets.marts.insights_config import BusinessMetrics, Duplicates, InsightsConfig, load_insights
from assets.pricing import PriceOverrides, load_price_overrides, price_usage
from assets.schemas import DIMENSIONS, MONEY, PRICED_USAGE, STAGED_COST_LINES, Column
from assets.sql import connect, load_sql, run_model, single_statement

log = logging.getLogger(__name__)


DAILY_ASSET = "insight_aggregates"
"""The daily asset that writes the aggregates every mart reads."""


@dataclass(frozen=True)
class Mart:
    name: str
    description: str


MARTS: tuple[Mart, ...] = (
    Mart(
        "workflow_costs",
        "Cost of a workflow run (trace) per day × team × feature × agent × workflow: billed and list, p50/p95.",
    ),
    Mart(
        "unit_costs",
        "Billed cost per request, per 1k tokens and per interaction; day × team × feature × customer.",
    ),
    Mart(
        "business_roi",
        "Cost against the business-metric file: ROI of revenue, cost per unit of counts (tickets resolved, …).",
    ),
    Mart(
        "retry_spend",
        "Calls retried or failed and the spend they caused, per day × team × feature × agent × model, as shares.",
    ),
    Mart(
        "token_growth",
        "Mean and p95 prompt and response tokens per day × team × feature × agent; 7/28-day trends, spikes.",
    ),
    Mart(
        "prompt_duplication",
        "Exact and near-duplicate prompts per day × team × feature × model and what a cache would have saved.",
    ),
    Mart(
        "repeated_prompts",
        "Prompt hashes sent more than once to a model: calls, cache hits, savings at dated prices.",
    ),
    Mart(
        "model_scorecard",
        "Per model and feature: cost per successful call, p50/p95 latency, error, retry and cache-read rates.",
    ),
    Mart(
        "routing_savings",
        "Calls on premium models that fit a cheaper tier (config routing) and the savings at its dated prices.",
    ),
    Mart(
        "shadow_ai",
        "Spend on API keys, accounts/projects and vendors with no owner, ranked by unowned spend.",
    ),
    Mart(
        "attribution_coverage",
        "Per day and dimension: the share of cost that carries a team, feature, customer, agent, workflow.",
    ),
    Mart(
        "cost_anomalies",
        "Daily cost per team, feature, agent and model against its weekday-aware median/MAD, with the driver.",
    ),
    Mart(
        "budget_status",
        "Monthly budgets (config): month-to-date actual, forecast to month end, status.",
    ),
    Mart(
        "cost_forecast",
        "Cost per team over the next 30 and 90 days, with a prediction interval.",
    ),
)
INSIGHT_TABLES = tuple(m.name for m in MARTS)
DAILY = (
    "workflow_costs",
    "unit_costs",
    "attribution_coverage",
    "retry_spend",
    "routing_savings",
    "prompt_duplication",
    "prompts",
    "tokens",
    "costs",
    "models",
    "latencies",
    "shadow_spend",
)
"""The per-day aggregates (`sql/marts/insights_daily/<name>.sql`), read by the marts as views `daily_<name>`: the
day's rows of the marts that are per day, and what the window marts aggregate (prompts, token sizes, cost by
dimension and model, model calls and latency counts, spend by key)."""

PROMPTS: list[tuple[str, str]] = [
    ("charge_date", "DATE"),
    ("provider", "VARCHAR"),
    ("model", "VARCHAR"),
    ("prompt_hash", "VARCHAR"),
    ("simhash", "UBIGINT"),
    ("last_success", "TIMESTAMPTZ"),
    ("features", "VARCHAR[]"),
    ("calls", "BIGINT"),
    ("cache_hits", "BIGINT"),
    ("savings_usd", MONEY),
    ("list_usd", MONEY),
]
"""Columns of the daily `prompts` aggregate, for the empty look-back of a first day."""

BUSINESS_METRICS: list[Column] = [
    Column("date", "DATE", required=True),
    Column("metric", "VARCHAR", required=True),
    Column("value", "DECIMAL(38,10)", required=True),
    Column("feature", "VARCHAR"),
    Column("customer", "VARCHAR"),
]
"""The business-metric file: one value per day and metric, optionally per feature and customer."""

FACT_COST: list[tuple[str, str]] = [
    *((name, "VARCHAR") for name in (*DIMENSIONS, "provider", "model", "cost_category", "allocation_rule", "source")),
    ("is_retry", "BOOLEAN"),
    ("unallocated_reason", "VARCHAR"),
    *((name, MONEY) for name in ("amount_usd", "list_price_usd", "true_up_usd")),
    *((name, "BIGINT") for name in ("input_tokens", "output_tokens", "requests")),
]
"""The columns of `fact_cost` (sql/marts/fact_cost.sql) besides charge_date: the empty view's when none is written."""

_HISTORY = {
    "fact_cost": ("charge_date", FACT_COST),
    "priced_usage": ("event_date", PRICED_USAGE),
    "allocated_lines": ("charge_date", [*ALLOCATED_LINES, ("line_id", "VARCHAR")]),
    "cost_lines": ("charge_date", STAGED_COST_LINES),
}
"""Lake tables the marts read: partition column, and the columns of an empty view when the lake has none."""

BUDGETS_SCHEMA = pa.schema(
    [
        ("budget", pa.string()),
        ("dimension", pa.string()),
        ("value", pa.string()),
        ("monthly_usd", pa.decimal128(38, 10)),
        ("valid_from", pa.date32()),
        ("valid_to", pa.date32()),
    ]
)
ROUTING_SCHEMA = pa.schema(
    [
        ("rule_no", pa.int32()),
        ("rule_name", pa.string()),
        ("provider", pa.string()),
        ("models", pa.list_(pa.string())),
        ("operations", pa.list_(pa.string())),
        ("features", pa.list_(pa.string())),
        ("max_input_tokens", pa.int64()),
        ("max_output_tokens", pa.int64()),
        ("to_provider", pa.string()),
        ("to_model", pa.string()),
    ]
)


class BusinessMetricsError(ValueError):
    """The business-metric file has rows that do not fit; the message names file, row, column and reason."""


def insight_file(lake: Lake, table: str) -> Path:
    """Where a (non-partitioned) insight mart lives: `<lake>/marts/<table>/data.parquet`."""
    return lake.root / "marts" / table / "data.parquet"


def register_history(
    con: duckdb.DuckDBPyConnection, lake: Lake, coverage_sources: Sequence[str] = (), day: date | None = None
) -> date | None:
    """Create views `fact_cost`, `priced_usage`, `allocated_lines`, `cost_lines` over every partition in the lake,
    or only `day`'s (typed and empty where a table has none); returns the last charge date, or None when fact_cost
    has no row. `priced_usage` holds the calls only: the rows of `coverage_sources` (vendor usage reports, daily
    totals) are left out."""
    for table, (column, empty) in _HISTORY.items():
        folder = lake.table_dir(table) / "*" if day is None else lake.partition_dir(table, day)
        if lake.has_data(table) if day is None else any(folder.glob("*.parquet")):
            calls_only = (
                f" where x_Source not in ({', '.join(sql_string(s) for s in coverage_sources)})"
                if table == "priced_usage" and coverage_sources
                else ""
            )
            con.execute(
                f"create or replace temp view {table} as select * from read_parquet("
                f"{sql_string(str(folder / '*.parquet'))}, hive_partitioning = true, union_by_name = true, "
                f"hive_types = {{'{column}': date}}){calls_only}"
            )
        else:
            typed = ", ".join(f'null::{t} as "{n}"' for n, t in [*empty, (column, "DATE")])
            con.execute(f"create or replace temp view {table} as select {typed} where false")
    return con.execute("select max(charge_date) from fact_cost").fetchall()[0][0]


def load_business_metrics(con: duckdb.DuckDBPyConnection, metrics: BusinessMetrics | None) -> None:
    """The temp table `business_metrics` from the configured file (empty without one), cast by the shared
    validator. A row that does not fit fails the build, naming file, row, column and reason."""
    if metrics is None:
        typed = ", ".join(f'null::{c.type} as "{c.name}"' for c in BUSINESS_METRICS)
        con.execute(f"create or replace temp table business_metrics as select {typed} where false")
        return
    read = canonical_reader(BUSINESS_METRICS, frozenset({"csv", "jsonl", "parquet"}))
    read(con, [metrics.file], "business_metrics_raw", {})
    staged, rejected = cast_or_reject(
        con, "business_metrics_raw", BUSINESS_METRICS, out_prefix="business_metrics_in", date_expr='"date"'
    )
    bad = con.execute(
        f"select source_file, source_row, column_name, reason, raw_value from {rejected} order by source_row"
    ).fetchall()
    if bad:
        lines = [
            f"{f}:{row}: {column}: {reason}" + (f" ({value!r})" if value else "")
            for f, row, column, reason, value in bad
        ]
        more = f"\n… and {len(lines) - 10} more" if len(lines) > 10 else ""
        raise BusinessMetricsError("business metrics rejected:\n" + "\n".join(lines[:10]) + more)
    names = ", ".join(f'"{c.name}"' for c in BUSINESS_METRICS)
    con.execute(f"create or replace temp table business_metrics as select {names} from {staged}")


def budgets_table(config: InsightsConfig) -> pa.Table:
    rows = [
        {
            "budget": b.name,
            "dimension": b.dimension,
            "value": b.value,
            "monthly_usd": b.monthly_usd,
            "valid_from": b.valid_from,
            "valid_to": b.valid_to,
        }
        for b in config.budgets
    ]
    return pa.Table.from_pylist(rows, schema=BUDGETS_SCHEMA)


def routing_table(config: InsightsConfig) -> pa.Table:
    rows = [
        {
            "rule_no": i,
            "rule_name": r.name,
            "provider": r.provider,
            "models": r.models,
            "operations": r.operations,
            "features": r.features,
            "max_input_tokens": r.max_input_tokens,
            "max_output_tokens": r.max_output_tokens,
            "to_provider": r.to.provider,
            "to_model": r.to.model,
        }
        for i, r in enumerate(config.routing)
    ]
    return pa.Table.from_pylist(rows, schema=ROUTING_SCHEMA)


def band_masks(duplicates: Duplicates) -> list[int]:
    """64-bit masks for near-duplicate candidates: the bits are cut into `blocks` blocks, and each mask keeps
    `blocks - max_distance` of them. Two SimHashes at most `max_distance` bits apart agree on at least that many
    blocks (pigeonhole), so they share the masked bits of at least one mask."""
    size, extra = divmod(64, duplicates.blocks)
    bounds, start = [], 0
    for i in range(duplicates.blocks):
        end = start + size + (i < extra)
        bounds.append((start, end))
        start = end
    block_masks = [((1 << (end - begin)) - 1) << begin for begin, end in bounds]
    keep = duplicates.blocks - duplicates.max_distance
    return [sum(chosen) for chosen in combinations(block_masks, keep)]


def daily_file(lake: Lake, name: str, day: date) -> Path:
    """Where a day's insight aggregate lives: `<lake>/insights/<name>/charge_date=<day>/data.parquet`."""
    return lake.root / "insights" / name / f"charge_date={day.isoformat()}" / "data.parquet"


def lookback_days(duplicates: Duplicates) -> int:
    """Whole days before a call that a response cache could still serve it from."""
    return math.ceil(duplicates.cache_ttl_hours / 24)


def compute_day(con: duckdb.DuckDBPyConnection, config: InsightsConfig, overrides: PriceOverrides, day: date) -> None:
    """The temp tables `daily_<name>` (each of DAILY) for `day`, from the views `fact_cost`, `priced_usage`,
    `allocated_lines`, `cost_lines` (the day's partitions) and `prompt_history` (the `prompts` aggregates of the
    days within the cache TTL before it)."""
    params = {
        "day": day,
        "masks": band_masks(config.duplicates),
        "max_distance": config.duplicates.max_distance,
        "cache_ttl_s": config.duplicates.cache_ttl_hours * 3600,
    }
    con.register("routing_rules", routing_table(config))
    run_model(con, "marts/insights_daily/routing_candidates", params, shared=True)
    price_usage(con, overrides)
    run_model(con, "marts/insights_daily/prompt_neighbours", params, shared=True)
    run_model(con, "marts/insights_daily/prompt_calls", params, shared=True)
    for name in DAILY:
        statement, bound = single_statement(load_sql(f"marts/insights_daily/{name}"), params)
        con.execute(f"create or replace temp table daily_{name} as {statement}", bound)


def _register_lookback(con: duckdb.DuckDBPyConnection, lake: Lake, config: InsightsConfig, day: date) -> None:
    before = (day - timedelta(days=i) for i in range(lookback_days(config.duplicates), 0, -1))
    files = [str(f) for f in (daily_file(lake, "prompts", d) for d in before) if f.exists()]
    register_files_view(con, files, "prompt_history", PROMPTS)


def build_insight_day(
    lake: Lake,
    config: InsightsConfig,
    overrides: PriceOverrides,
    day: date,
    *,
    memory_limit: str = "4GB",
    coverage_sources: Sequence[str] = (),
) -> dict[str, int]:
    """Write the day's insight aggregates (each of DAILY, replacing the day's partition); returns rows per name.
    Reads the day's partitions and the prompt aggregates of the days within the cache TTL before it: the cost
    does not grow with the history. A day's cache hits on earlier days see those days as last computed."""
    con = connect(memory_limit=memory_limit, temp_directory=lake.tmp_dir())
    try:
        register_history(con, lake, coverage_sources, day=day)
        _register_lookback(con, lake, config, day)
        compute_day(con, config, overrides, day)
        # sorted: the same day gives the same bytes (the aggregates are small beside the day's calls)
        return {
            name: write_parquet(con, f"select * from daily_{name} order by all", daily_file(lake, name, day))
            for name in DAILY
        }
    finally:
        con.close()


def _register_daily(
    con: duckdb.DuckDBPyConnection, lake: Lake, config: InsightsConfig, overrides: PriceOverrides
) -> date | None:
    """Views `daily_<name>` over every day's aggregates; returns the last charge date with cost (the marts'
    "today"), None when no day has any. Without any day, they are the typed empty result of a day without data."""
    if all(any((lake.root / "insights" / name).glob("*/data.parquet")) for name in DAILY):
        for name in DAILY:
            files = sql_string(str(lake.root / "insights" / name / "*" / "data.parquet"))
            con.execute(
                f"create or replace temp view daily_{name} as "
                f"select * from read_parquet({files}, hive_partitioning = false, union_by_name = true)"
            )
        return con.execute("select max(charge_date) from daily_costs").fetchall()[0][0]
    register_history(con, lake, day=NO_HISTORY_AS_OF)
    register_files_view(con, [], "prompt_history", PROMPTS)
    compute_day(con, config, overrides, NO_HISTORY_AS_OF)
    return None


def _parameters(config: InsightsConfig, as_of: date) -> dict[str, Any]:
    anomalies, forecast = config.anomalies, config.forecast
    return {
        "as_of": as_of,
        "since": as_of - timedelta(days=config.history_days - 1),
        "period_start": as_of - timedelta(days=config.scorecard_days - 1),
        "min_calls": config.scorecard_min_calls,
        "revenue_metrics": config.business_metrics.revenue if config.business_metrics else [],
        "spike_factor": config.token_growth.spike_factor,
        "baseline_weeks": anomalies.baseline_weeks,
        "min_weekday_points": anomalies.min_weekday_points,
        "trailing_days": anomalies.trailing_days,
        "min_points": anomalies.min_points,
        "z_threshold": anomalies.z_threshold,
        "min_deviation_usd": anomalies.min_deviation_usd,
        "min_relative_deviation": anomalies.min_relative_deviation,
        "at_risk_share": config.alerts.at_risk_share,
        "history_start": as_of - timedelta(days=forecast.history_days - 1),
        "horizons": forecast.horizons,
        "interval": forecast.interval,
        "z": statistics.NormalDist().inv_cdf((1 + forecast.interval) / 2),
    }


class Built(NamedTuple):
    as_of: date | None
    """The marts' "today" (the last charge date), None when there is no history yet."""
    rows: dict[str, int]
    """Rows written per table."""


NO_HISTORY_AS_OF = date(1970, 1, 1)
"""Stands in for "today" when no day has cost: the marts are then written with their columns and no row."""


def build_insights(
    lake: Lake,
    config: InsightsConfig,
    overrides: PriceOverrides,
    *,
    tables: Iterable[str] | None = None,
    memory_limit: str = "4GB",
) -> Built:
    """Write the insight marts (all, or `tables`) from the daily aggregates in `lake` (`build_insight_day`); with
    none yet, each is written empty and typed."""
    selected = [t for t in INSIGHT_TABLES if tables is None or t in set(tables)]
    con = connect(memory_limit=memory_limit, temp_directory=lake.tmp_dir())
    try:
        as_of = _register_daily(con, lake, config, overrides)
        params = _parameters(config, as_of or NO_HISTORY_AS_OF)
        load_business_metrics(con, config.business_metrics if "business_roi" in selected else None)
        con.register("budgets", budgets_table(config))
        rows = {}
        for table in selected:
            model = load_sql(f"marts/insights/{table}")
            query = model if as_of else f"select * from (\n{single_statement(model, params)[0]}\n) where false"
            rows[table] = write_parquet(con, query, insight_file(lake, table), params)
        return Built(as_of, rows)
    finally:
        con.close()


def insights_config(settings: Settings) -> InsightsConfig:
    """`insights:` of apportion.yaml (relative to its folder), or the defaults when it names none."""
    path = settings.app.insights
    return load_insights(resolve(settings.root, path) if path else None)


def overrides(settings: Settings) -> PriceOverrides:
    return load_price_overrides(settings.app.prices) if settings.app.prices else PriceOverrides()


def budget_alerts(lake: Lake) -> list[str]:
    """A line per budget over or at risk in the latest month."""
    with connect() as con:
        rows = con.execute(
            'select budget, dimension, "value", status, mtd_usd, forecast_usd, budget_usd, "month" '
            'from read_parquet($f) where "month" = (select max("month") from read_parquet($f)) '
            "and status <> 'ok' order by forecast_share desc, budget",
            {"f": str(insight_file(lake, "budget_status"))},
        ).fetchall()
    return [
        f"{budget} ({dimension} {value}) {status.replace('_', ' ')} in {month:%Y-%m}: "
        f"${mtd:,.2f} spent of ${limit:,.2f}, forecast ${forecast:,.2f}"
        for budget, dimension, value, status, mtd, forecast, limit, month in rows
    ]


def anomaly_alerts(lake: Lake) -> list[str]:
    """A line per anomaly on the last charge date."""
    with connect() as con:
        rows = con.execute(
            'select charge_date, dimension, "value", cost_usd, baseline_usd, direction, driver from read_parquet($f) '
            "where is_anomaly and charge_date = (select max(charge_date) from read_parquet($f)) "
            'order by abs(deviation_usd) desc, dimension, "value"',
            {"f": str(insight_file(lake, "cost_anomalies"))},
        ).fetchall()
    return [
        f"{day} {dimension} {value}: ${cost:,.2f} vs usual ${baseline:,.2f} ({direction}"
        + (f", driven by {driver})" if driver else ")")
        for day, dimension, value, cost, baseline, direction, driver in rows
    ]


def post_alert(url: str, title: str, lines: list[str], timeout_s: float) -> str:
    """POST the alert as Slack-compatible JSON (`{"text": ...}`); returns what happened, without the URL (a
    webhook URL is a credential)."""
    if not url.startswith(("https://", "http://")):
        return "not posted: the webhook URL must be http(s)"
    text = f"*{title}*\n" + "\n".join(f"• {line}" for line in lines)
    request = urllib.request.Request(
        url,
        data=json.dumps({"text": text}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return f"posted (HTTP {response.status})"
    except urllib.error.HTTPError as exc:
        return f"not posted: HTTP {exc.code}"
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"not posted: {type(reason).__name__}"


"""After the nightly run (02:00) and its lookback days: the marts read the whole history once."""
