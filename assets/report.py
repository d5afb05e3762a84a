"""`apportion report`: one self-contained HTML file of charts and tables over `fact_cost` and the insight marts.

Each figure is a query in `sql/report/`, its chart drawn by `assets/charts.py` (inline SVG, no script, stylesheet,
font or image to fetch, so the file opens anywhere without a network) or a table, and the page is the Jinja2
template `assets/templates/report.html.j2`. Dated charts cover `start`..`end` (default: all of fact_cost); the
marts without dates (model scorecard, shadow AI, repeated prompts, forecast) show the period they were computed
over.
"""

from dataclasses import dataclass
from datetime import date
from functools import cache
from html import escape
from pathlib import Path
from typing import Any

import duckdb
import jinja2
from markupsafe import Markup

from assets.charts import bar_chart, budget_bars, count, empty, line_chart, money, range_bars, share, stacked_columns
from assets.ingest.readers import sql_string
from assets.lake import Lake, atomic_path
from assets.marts.insights import INSIGHT_TABLES, insight_file, register_history
from assets.sql import connect, run_model

TEMPLATES = Path(__file__).resolve().parent / "templates"


class ReportError(RuntimeError):
    """The lake lacks what the report reads; the message says what to run."""


@dataclass(frozen=True)
class Table:
    """A table of the report (rendered by the template)."""

    title: str
    headers: tuple[str, ...]
    rows: list[tuple[str, ...]]
    note: str = ""


def table(title: str, headers: list[str], rows: list, note: str = "") -> Table:
    """A table of `rows` (each a sequence of cell texts) under `headers`; "none" when there is no row."""
    return Table(title, tuple(headers), [tuple(r) for r in rows], note)


Section = Markup | Table


def _escaped(value: Any) -> Markup:
    """Every value the template prints, escaped as `html.escape` does (charts arrive as Markup, kept as they are)."""
    return value if isinstance(value, Markup) else Markup(escape(str(value)))


@cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, finalize=_escaped, undefined=jinja2.StrictUndefined
    )
    env.tests["table"] = lambda value: isinstance(value, Table)
    return env.get_template("report.html.j2")


def _rows(con: duckdb.DuckDBPyConnection, query: str, params: dict[str, Any]) -> list[tuple]:
    """The rows of `sql/report/<query>.sql`; `params` holds the report's period (and more), each query takes what
    its header declares."""
    return run_model(con, f"report/{query}", params, shared=True)


def _open(lake: Lake) -> tuple[duckdb.DuckDBPyConnection, date | None, date | None]:
    """A connection with the history and the insight marts as views, and the first and last charge dates (None
    when fact_cost has no row yet: the marts are then not needed)."""
    con = connect()
    try:
        register_history(con, lake)
        first, last = con.execute("select min(charge_date), max(charge_date) from fact_cost").fetchall()[0]
        if last is None:
            return con, None, None
        missing = [t for t in INSIGHT_TABLES if not insight_file(lake, t).exists()]
        if missing:
            raise ReportError(
                f"insight marts missing in {lake.root}: {', '.join(missing)}; run `apportion run` or the `insights` job"
            )
        for mart in INSIGHT_TABLES:
            path = sql_string(str(insight_file(lake, mart)))
            con.execute(f"create view {mart} as select * from read_parquet({path})")
    except BaseException:
        con.close()
        raise
    return con, first, last


def _by_day(rows: list[tuple], days: list[date]) -> dict[str, list[float]]:
    """(day, series, value) rows as one list per series over `days` (0 where a day has no row)."""
    index = {d: i for i, d in enumerate(days)}
    series: dict[str, list[float]] = {}
    for day, name, value in rows:
        series.setdefault(name, [0.0] * len(days))[index[day]] = float(value or 0)
    return series


def _sections(con: duckdb.DuckDBPyConnection, p: dict[str, Any]) -> list[Section]:
    days = [r[0] for r in _rows(con, "days", p)]
    out: list[Section] = []
    team_days = _rows(con, "spend_by_team", p)
    out.append(stacked_columns("spend_by_team", "Spend by team", "billed cost per day", days, _by_day(team_days, days)))

    for dimension, title in (("feature", "Top features"), ("customer", "Top customers"), ("agent", "Top agents")):
        items = _rows(con, "top_values", {**p, "dimension": dimension})
        out.append(bar_chart(f"top_{dimension}s", title, "billed cost in the period, top 10", items))

    retry_index = {r[0]: r for r in _rows(con, "retry_share", p)}
    out.append(
        line_chart(
            "retry_share",
            "Retry and failure spend",
            "share of list-priced model spend: retry attempts, and failed attempts that bought nothing",
            days,
            {
                "retry attempts": [_float(retry_index.get(d, (None, None))[1]) for d in days],
                "failed attempts": [_float(retry_index.get(d, (None, None, None))[2]) for d in days],
            },
            share,
        )
    )

    token_index = {r[0]: r for r in _rows(con, "token_means", p)}
    out.append(
        line_chart(
            "token_growth",
            "Token growth",
            "mean tokens per successful call",
            days,
            {
                "prompt": [_float(token_index.get(d, (None, None))[1]) for d in days],
                "response": [_float(token_index.get(d, (None, None, None))[2]) for d in days],
            },
            count,
        )
    )
    growth = _rows(con, "fastest_growing", p)
    out.append(
        table(
            "Fastest-growing prompts",
            ["team", "feature", "agent", "mean prompt (7d)", "growth / day (28d)", "spike"],
            [(t, f, a, count(m), share(g), "yes" if s else "") for t, f, a, m, g, s in growth],
        )
    )

    out.extend(_anomaly_sections(con, p, days))

    budgets = _rows(con, "budgets", p)
    month = f"{budgets[0][4]:%Y-%m}: " if budgets else ""
    out.append(
        budget_bars(
            "budgets",
            "Budgets",
            f"{month}bar = spent so far, tick = forecast to month end",
            [b[:4] for b in budgets],
        )
    )

    coverage = _rows(con, "unallocated_share", p)
    out.append(
        line_chart(
            "unallocated_share",
            "Unallocated share",
            "share of billed cost without a team, feature or customer",
            days,
            _by_day(coverage, days),
            share,
        )
    )
    shadow = _rows(con, "shadow_ai", p)
    out.append(
        table(
            "Shadow AI: spend nobody owns",
            ["kind", "key", "vendors", "unowned", "share of its spend", "why"],
            [(k, key, v or "", money(u), share(s), r or "") for k, key, v, u, s, r in shadow],
        )
    )

    forecast = _rows(con, "forecast", p)
    horizon = _rows(con, "forecast_horizon", p)[0][0]
    out.append(
        range_bars(
            "forecast",
            f"Forecast: next {horizon} days" if horizon else "Forecast",
            f"per team, with the prediction interval (from {forecast[0][4]})" if forecast else "",
            [f[:4] for f in forecast],
        )
    )
    out.extend(_savings_sections(con, p))
    return out


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _anomaly_sections(con: duckdb.DuckDBPyConnection, p: dict[str, Any], days: list[date]) -> list[Section]:
    anomalies = _rows(con, "anomalies", p)
    if anomalies:
        top = max(anomalies, key=lambda a: abs(float(a[3]) - float(a[4])))
        dimension, value = top[1:3]
        title = f"Anomalies: {dimension} {value}"
        note = f"daily cost against its baseline; {len(anomalies)} anomalies in the period, circled for this series"
    else:
        largest = _rows(con, "largest_team", p)
        if not largest:
            return [empty("anomalies", "Anomalies", "no data in this period")]
        dimension, value = "team", largest[0][0]
        title = f"Anomalies: none; team {value}"
        note = "no anomaly in this period: the largest team's daily cost against its baseline"
    index = {r[0]: r for r in _rows(con, "anomaly_series", {**p, "dimension": dimension, "value": value})}
    marked = [
        (days.index(a[0]), f"{a[0]}: {money(a[3])} vs {money(a[4])}, driver {a[6] or 'n/a'}")
        for a in anomalies
        if a[1] == dimension and a[2] == value and a[0] in days
    ]
    chart = line_chart(
        "anomalies",
        title,
        note,
        days,
        {
            "cost": [_float(index[d][1]) if d in index else None for d in days],
            "baseline (median)": [_float(index[d][2]) if d in index else None for d in days],
        },
        money,
        marked,
    )
    listed = table(
        "Anomalies",
        ["day", "dimension", "value", "cost", "baseline", "robust z", "driver"],
        [
            (str(d), dim, v, money(c), money(b), "–" if z is None else f"{z:.1f}", drv or "")
            for d, dim, v, c, b, z, drv in anomalies[:15]
        ],
    )
    return [chart, listed]


def _savings_sections(con: duckdb.DuckDBPyConnection, p: dict[str, Any]) -> list[Section]:
    cache = _rows(con, "cache_potential", p)
    routing = _rows(con, "routing_savings", p)
    scorecard = _rows(con, "model_scorecard", p)
    period = f"{scorecard[0][10]} to {scorecard[0][11]}" if scorecard else ""
    return [
        table(
            "Cache potential: repeated prompts",
            ["feature", "model", "exact repeats", "saved", "near duplicates", "saved"],
            [(f, m, count(e), money(es), count(n), money(ns)) for f, m, e, es, n, ns in cache],
            "what a response cache would have saved, at the calls' dated list prices (estimates)",
        ),
        table(
            "Model routing savings",
            ["rule", "route", "calls that fit", "of the model's calls", "cost now", "on the cheaper model", "saved"],
            [(r, m, count(c), count(t), money(now), money(then), money(s)) for r, m, c, t, now, then, s in routing],
            "at the cheaper model's dated list prices",
        ),
        table(
            "Model scorecard",
            [
                "feature",
                "model",
                "calls",
                "cost / successful call",
                "p50 ms",
                "p95 ms",
                "errors",
                "retries",
                "cache reads",
                "rank",
            ],
            [
                (
                    f,
                    m,
                    count(c),
                    money(u) if u is None or u >= 0.01 else f"${float(u):.5f}",
                    count(p50),
                    count(p95),
                    share(e),
                    share(r),
                    share(cr),
                    "" if rank is None else str(rank),
                )
                for f, m, c, u, p50, p95, e, r, cr, rank, *_ in scorecard
            ],
            f"billed cost per successful call, {period}",
        ),
    ]


def _kpis(con: duckdb.DuckDBPyConnection, p: dict[str, Any]) -> list[tuple[str, str]]:
    total, unallocated, waste, cache, routing, anomalies = _rows(con, "kpis", p)[0]
    return [
        ("total cost", money(total)),
        ("without a team", share((unallocated or 0) / total if total else None)),
        ("failed-attempt spend", share(waste)),
        ("cache could save", money(cache)),
        ("routing could save", money(routing)),
        ("anomalies", count(anomalies)),
    ]


def render_report(lake: Lake, *, start: date | None = None, end: date | None = None) -> str:
    """The report as one HTML document (a "no data yet" page when fact_cost has no row)."""
    con, first, last = _open(lake)
    try:
        if first is None or last is None:
            return _template().render(
                title="AI cost report: no data yet",
                lead=f"apportion: fact_cost in {lake.root} has no row yet, so there is nothing to chart.",
                kpis=None,
            )
        p = {"start": start or first, "end": end or last}
        if p["end"] < p["start"]:
            raise ReportError(f"--end {p['end']} is before --start {p['start']}")
        kpis, sections = _kpis(con, p), _sections(con, p)
    finally:
        con.close()
    return _template().render(
        title=f"AI cost report {p['start']} to {p['end']}",
        lead=f"apportion: billed cost from fact_cost (data up to {last}); "
        "list-priced figures are estimates at the calls' dated list prices.",
        kpis=kpis,
        sections=sections,
    )


def write_report(lake: Lake, out: Path, *, start: date | None = None, end: date | None = None) -> Path:
    """Write the report to `out` atomically; returns `out`."""
    html = render_report(lake, start=start, end=end)
    with atomic_path(Path(out)) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return Path(out)
