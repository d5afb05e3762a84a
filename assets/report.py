"""`apportion report`: one self-contained HTML file of charts and tables over `fact_cost` and the insight marts.

Charts are inline SVG drawn here from small aggregates (a few hundred numbers), with the exact values in each
mark's tooltip; there is no script, stylesheet, font or image to fetch, so the file opens anywhere without a
network. Dated charts cover `start`..`end` (default: all of fact_cost); the marts without dates (model scorecard,
shadow AI, repeated prompts, forecast) show the period they were computed over.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Any

import duckdb

from assets.ingest.readers import sql_string
from assets.lake import Lake, atomic_path
from assets.marts.insights import INSIGHT_TABLES, insight_file, register_history
from assets.sql import connect

PALETTE = ("#3b6fb6", "#e07b39", "#4f9d69", "#c5504b", "#8064a2", "#d4a72c", "#4bacc6", "#9b6b43", "#7f7f7f")
WIDTH = 880
Number = float | int | Decimal


class ReportError(RuntimeError):
    """The lake lacks what the report reads; the message says what to run."""


@dataclass(frozen=True)
class Frame:
    """Plot area of a chart inside its SVG."""

    left: int = 150
    right: int = 24
    top: int = 16
    height: int = 220

    @property
    def width(self) -> int:
        return WIDTH - self.left - self.right

    @property
    def bottom(self) -> int:
        return self.top + self.height


def _money(value: Number | None) -> str:
    return "–" if value is None else f"${float(value):,.2f}"


def _share(value: Number | None) -> str:
    return "–" if value is None else f"{float(value) * 100:.1f}%"


def _count(value: Number | None) -> str:
    return "–" if value is None else f"{float(value):,.0f}"


def _figure(name: str, title: str, note: str, svg_body: str, height: int, legend: str = "") -> str:
    return (
        f'<figure class="chart" id="{name}" data-chart="{name}"><figcaption><b>{escape(title)}</b> '
        f'<span class="note">{escape(note)}</span></figcaption>{legend}'
        f'<svg class="plot" role="img" aria-label="{escape(title)}" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}">{svg_body}</svg></figure>'
    )


def _empty(name: str, title: str, why: str) -> str:
    return (
        f'<figure class="chart empty" id="{name}" data-chart="{name}"><figcaption><b>{escape(title)}</b></figcaption>'
        f'<p class="note">{escape(why)}</p></figure>'
    )


def _legend(names: Sequence[str]) -> str:
    items = "".join(
        f'<span><i style="background:{PALETTE[i % len(PALETTE)]}"></i>{escape(n)}</span>' for i, n in enumerate(names)
    )
    return f'<div class="legend">{items}</div>'


def _nice_max(value: float) -> float:
    """A round axis maximum at or above `value`."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    return next(step * magnitude for step in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if step * magnitude >= value)


def _y_axis(frame: Frame, top: float, fmt: Callable[[Number], str]) -> str:
    parts = []
    for i in range(5):
        value = top * i / 4
        y = frame.bottom - frame.height * i / 4
        parts.append(
            f'<line class="grid" x1="{frame.left}" x2="{frame.left + frame.width}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{frame.left - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(fmt(value))}</text>'
        )
    return "".join(parts)


def _x_labels(frame: Frame, labels: Sequence[str], x_of: Callable[[int], float]) -> str:
    every = max(1, len(labels) // 10)
    shown = [i for i in range(len(labels)) if i % every == 0]
    if shown[-1] != len(labels) - 1 and len(labels) - 1 - shown[-1] >= every / 2:
        shown.append(len(labels) - 1)
    return "".join(
        f'<text class="tick" x="{x_of(i):.1f}" y="{frame.bottom + 16}" text-anchor="middle">{escape(labels[i])}</text>'
        for i in shown
    )


def bar_chart(name: str, title: str, note: str, items: Sequence[tuple[str, Number]], fmt=_money) -> str:
    """Horizontal bars, largest first."""
    if not items:
        return _empty(name, title, "no data in this period")
    bar, gap = 20, 6
    frame = Frame(right=90, height=len(items) * (bar + gap))
    top = _nice_max(max(float(v) for _, v in items))
    body = [f'<line class="axis" x1="{frame.left}" x2="{frame.left}" y1="{frame.top}" y2="{frame.bottom}"/>']
    for i, (label, value) in enumerate(items):
        y = frame.top + i * (bar + gap)
        w = max(1.0, frame.width * max(float(value), 0) / top)
        body.append(
            f'<text class="label" x="{frame.left - 6}" y="{y + bar - 6}" text-anchor="end">{escape(label[:22])}</text>'
            f'<rect class="mark" x="{frame.left}" y="{y}" width="{w:.1f}" height="{bar}" fill="{PALETTE[0]}">'
            f"<title>{escape(label)}: {escape(fmt(value))}</title></rect>"
            f'<text class="value" x="{frame.left + w + 4:.1f}" y="{y + bar - 6}">{escape(fmt(value))}</text>'
        )
    return _figure(name, title, note, "".join(body), frame.bottom + 8)


def stacked_columns(
    name: str, title: str, note: str, days: Sequence[date], series: dict[str, list[float]], fmt=_money
) -> str:
    """One column per day, stacked by series (negative amounts, such as credits, are left out of the stack)."""
    if not days:
        return _empty(name, title, "no data in this period")
    frame = Frame(left=70)
    totals = [sum(max(v[i], 0) for v in series.values()) for i in range(len(days))]
    top = _nice_max(max(totals))
    slot = frame.width / len(days)
    body = [_y_axis(frame, top, lambda v: fmt(v).split(".")[0])]
    for i, day in enumerate(days):
        y = float(frame.bottom)
        for s, (label, values) in enumerate(series.items()):
            h = frame.height * max(values[i], 0) / top
            if h <= 0:
                continue
            y -= h
            body.append(
                f'<rect class="mark" x="{frame.left + i * slot + slot * 0.1:.1f}" y="{y:.1f}" '
                f'width="{slot * 0.8:.1f}" height="{h:.1f}" fill="{PALETTE[s % len(PALETTE)]}">'
                f"<title>{day} {escape(label)}: {escape(fmt(values[i]))}</title></rect>"
            )
    body.append(_x_labels(frame, [d.strftime("%m-%d") for d in days], lambda i: frame.left + (i + 0.5) * slot))
    return _figure(name, title, note, "".join(body), frame.bottom + 24, _legend(list(series)))


def line_chart(
    name: str,
    title: str,
    note: str,
    days: Sequence[date],
    series: dict[str, list[float | None]],
    fmt: Callable[[Number], str],
    markers: Sequence[tuple[int, str]] = (),
) -> str:
    """Lines over days (a gap where a value is missing); `markers` are (day index, tooltip) on the first series."""
    values = [v for line in series.values() for v in line if v is not None]
    if not days or not values:
        return _empty(name, title, "no data in this period")
    frame = Frame(left=70)
    top = _nice_max(max(max(values), 0))
    step = frame.width / max(len(days) - 1, 1)

    def x(i: int) -> float:
        return frame.left + i * step

    def y(v: float) -> float:
        return frame.bottom - frame.height * max(v, 0) / top

    body = [_y_axis(frame, top, fmt)]
    for s, (label, line) in enumerate(series.items()):
        color = PALETTE[s % len(PALETTE)]
        segments, current = [], []
        for i, v in enumerate(line):
            if v is None:
                segments, current = [*segments, current] if current else segments, []
            else:
                current.append(f"{x(i):.1f},{y(v):.1f}")
        segments = [*segments, current] if current else segments
        for points in segments:
            body.append(
                f'<polyline class="mark" fill="none" stroke="{color}" stroke-width="2.5" points="{" ".join(points)}">'
                f"<title>{escape(label)}</title></polyline>"
            )
        for i, v in enumerate(line):
            if v is not None:
                body.append(
                    f'<circle class="mark" cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="{color}">'
                    f"<title>{days[i]} {escape(label)}: {escape(fmt(v))}</title></circle>"
                )
    first = next(iter(series.values()))
    for i, tip in markers:
        if first[i] is not None:
            body.append(
                f'<circle class="mark anomaly" cx="{x(i):.1f}" cy="{y(first[i]):.1f}" r="8" fill="none" '
                f'stroke="#c00" stroke-width="3"><title>{escape(tip)}</title></circle>'
            )
    body.append(_x_labels(frame, [d.strftime("%m-%d") for d in days], x))
    return _figure(name, title, note, "".join(body), frame.bottom + 24, _legend(list(series)))


def range_bars(
    name: str, title: str, note: str, items: Sequence[tuple[str, Number, Number | None, Number | None]]
) -> str:
    """Horizontal bars (a point estimate) with whiskers from low to high; no whisker where the interval is unknown
    (too short a history), and the tooltip says so."""
    if not items:
        return _empty(name, title, "no data in this period")
    bar, gap = 18, 8
    frame = Frame(right=90, height=len(items) * (bar + gap))
    top = _nice_max(max(float(point if high is None else high) for _, point, _, high in items))
    body = [f'<line class="axis" x1="{frame.left}" x2="{frame.left}" y1="{frame.top}" y2="{frame.bottom}"/>']
    for i, (label, point, low, high) in enumerate(items):
        y = frame.top + i * (bar + gap)

        def x(v: Number) -> float:
            return frame.left + frame.width * float(v) / top

        if low is None or high is None:
            tip = escape(f"{label}: {_money(point)} (no interval: too few days of history)")
            whisker = ""
        else:
            tip = escape(f"{label}: {_money(point)} ({_money(low)} – {_money(high)})")
            whisker = (
                f'<line class="mark whisker" x1="{x(low):.1f}" x2="{x(high):.1f}" y1="{y + bar / 2}" '
                f'y2="{y + bar / 2}" stroke="#222" stroke-width="2"><title>{tip}</title></line>'
            )
        body.append(
            f'<text class="label" x="{frame.left - 6}" y="{y + bar - 5}" text-anchor="end">{escape(label[:22])}</text>'
            f'<rect class="mark" x="{frame.left}" y="{y}" width="{max(1.0, x(point) - frame.left):.1f}" '
            f'height="{bar}" fill="{PALETTE[0]}" opacity="0.8"><title>{tip}</title></rect>{whisker}'
            f'<text class="value" x="{x(point if high is None else high) + 4:.1f}" y="{y + bar - 5}">'
            f"{escape(_money(point))}</text>"
        )
    return _figure(name, title, note, "".join(body), frame.bottom + 8)


def budget_bars(name: str, title: str, note: str, items: Sequence[tuple[str, Number, Number, str]]) -> str:
    """Per budget: month-to-date share of the budget (bar) and forecast share (tick), against a 100 % line."""
    if not items:
        return _empty(name, title, "no budgets configured (config/insights.yaml)")
    bar, gap = 18, 10
    frame = Frame(height=len(items) * (bar + gap))
    top = max(1.5, _nice_max(max(max(float(u), float(f)) for _, u, f, _ in items)))
    colors = {"ok": PALETTE[2], "at_risk": PALETTE[5], "over": PALETTE[3]}

    def x(v: Number) -> float:
        return frame.left + frame.width * min(float(v), top) / top

    body = [
        f'<line class="axis" x1="{x(1):.1f}" x2="{x(1):.1f}" y1="{frame.top - 4}" y2="{frame.bottom}" '
        f'stroke-dasharray="4 3"/><text class="tick" x="{x(1):.1f}" y="{frame.top - 6 + 0}" '
        f'text-anchor="middle">100%</text>'
    ]
    for i, (label, used, forecast, status) in enumerate(items):
        y = frame.top + i * (bar + gap)
        tip = f"{label}: {_share(used)} used, forecast {_share(forecast)} ({status})"
        body.append(
            f'<text class="label" x="{frame.left - 6}" y="{y + bar - 5}" text-anchor="end">{escape(label[:22])}</text>'
            f'<rect class="mark" x="{frame.left}" y="{y}" width="{max(1.0, x(used) - frame.left):.1f}" '
            f'height="{bar}" fill="{colors.get(status, PALETTE[0])}"><title>{escape(tip)}</title></rect>'
            f'<line class="mark" x1="{x(forecast):.1f}" x2="{x(forecast):.1f}" y1="{y - 3}" y2="{y + bar + 3}" '
            f'stroke="#222" stroke-width="3"><title>{escape(tip)}</title></line>'
        )
    return _figure(name, title, note, "".join(body), frame.bottom + 8)


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]], note: str = "") -> str:
    if not rows:
        return f'<section class="table"><h3>{escape(title)}</h3><p class="note">none</p></section>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    note_html = f'<p class="note">{escape(note)}</p>' if note else ""
    return f'<section class="table"><h3>{escape(title)}</h3>{note_html}<table><tr>{head}</tr>{body}</table></section>'


# --- data -------------------------------------------------------------------------------------------------------


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> list[tuple]:
    used = {k: v for k, v in params.items() if f"${k}" in sql}
    return con.execute(sql, used).fetchall()


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
        for table in INSIGHT_TABLES:
            path = sql_string(str(insight_file(lake, table)))
            con.execute(f"create view {table} as select * from read_parquet({path})")
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


def _sections(con: duckdb.DuckDBPyConnection, p: dict[str, Any]) -> list[str]:
    days = [
        r[0]
        for r in _rows(
            con, "select distinct charge_date from fact_cost where charge_date between $start and $end order by 1", p
        )
    ]
    out = []
    team_days = _rows(
        con,
        "select charge_date, team, sum(amount_usd) from fact_cost where charge_date between $start and $end "
        "group by all order by team",
        p,
    )
    out.append(stacked_columns("spend_by_team", "Spend by team", "billed cost per day", days, _by_day(team_days, days)))

    for dimension, title in (("feature", "Top features"), ("customer", "Top customers"), ("agent", "Top agents")):
        items = _rows(
            con,
            f"select {dimension}, sum(amount_usd) as cost from fact_cost where charge_date between $start and $end "
            f"and {dimension} <> 'unallocated' group by 1 order by cost desc, 1 limit 10",
            p,
        )
        out.append(bar_chart(f"top_{dimension}s", title, "billed cost in the period, top 10", items))

    retry = _rows(
        con,
        "select charge_date, sum(retry_list_usd) / nullif(sum(list_usd), 0), "
        "sum(failed_list_usd) / nullif(sum(list_usd), 0) from retry_spend "
        "where charge_date between $start and $end group by 1 order by 1",
        p,
    )
    retry_index = {r[0]: r for r in retry}
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
            _share,
        )
    )

    tokens = _rows(
        con,
        "select charge_date, sum(input_tokens) / sum(calls), sum(output_tokens) / sum(calls) from token_growth "
        "where charge_date between $start and $end group by 1 order by 1",
        p,
    )
    token_index = {r[0]: r for r in tokens}
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
            _count,
        )
    )
    growth = _rows(
        con,
        "select team, feature, agent, mean_input_tokens_7d, context_growth_28d, is_spike from token_growth "
        "where charge_date = (select max(charge_date) from token_growth where charge_date <= $end) "
        "order by context_growth_28d desc nulls last limit 8",
        p,
    )
    out.append(
        table(
            "Fastest-growing prompts",
            ["team", "feature", "agent", "mean prompt (7d)", "growth / day (28d)", "spike"],
            [(t, f, a, _count(m), _share(g), "yes" if s else "") for t, f, a, m, g, s in growth],
        )
    )

    out.extend(_anomaly_sections(con, p, days))

    budgets = _rows(
        con,
        "select budget || ' (' || \"value\" || ')', used_share, forecast_share, status, \"month\" from budget_status "
        'where "month" = (select max("month") from budget_status where "month" <= $end) order by budget',
        p,
    )
    month = f"{budgets[0][4]:%Y-%m}: " if budgets else ""
    out.append(
        budget_bars(
            "budgets",
            "Budgets",
            f"{month}bar = spent so far, tick = forecast to month end",
            [b[:4] for b in budgets],
        )
    )

    coverage = _rows(
        con,
        "select charge_date, dimension, 1 - coverage_share from attribution_coverage "
        "where charge_date between $start and $end and dimension in ('team', 'feature', 'customer') order by 1",
        p,
    )
    out.append(
        line_chart(
            "unallocated_share",
            "Unallocated share",
            "share of billed cost without a team, feature or customer",
            days,
            _by_day(coverage, days),
            _share,
        )
    )
    shadow = _rows(
        con,
        'select kind, "key", vendors, unowned_usd, unowned_share, reasons from shadow_ai '
        'order by unowned_usd desc, kind, "key" limit 10',
        p,
    )
    out.append(
        table(
            "Shadow AI: spend nobody owns",
            ["kind", "key", "vendors", "unowned", "share of its spend", "why"],
            [(k, key, v or "", _money(u), _share(s), r or "") for k, key, v, u, s, r in shadow],
        )
    )

    forecast = _rows(
        con,
        "select team, forecast_usd, lower_usd, upper_usd, as_of from cost_forecast where horizon_days = "
        "(select min(horizon_days) from cost_forecast) order by forecast_usd desc",
        p,
    )
    horizon = _rows(con, "select min(horizon_days) from cost_forecast", p)[0][0]
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


def _anomaly_sections(con: duckdb.DuckDBPyConnection, p: dict[str, Any], days: list[date]) -> list[str]:
    anomalies = _rows(
        con,
        'select charge_date, dimension, "value", cost_usd, baseline_usd, robust_z, driver from cost_anomalies '
        "where is_anomaly and charge_date between $start and $end order by charge_date desc, abs(deviation_usd) desc",
        p,
    )
    if anomalies:
        top = max(anomalies, key=lambda a: abs(float(a[3]) - float(a[4])))
        dimension, value = top[1:3]
        title = f"Anomalies: {dimension} {value}"
        note = f"daily cost against its baseline; {len(anomalies)} anomalies in the period, circled for this series"
    else:
        largest = _rows(
            con,
            "select team from fact_cost where charge_date between $start and $end group by 1 "
            "order by sum(amount_usd) desc, 1 limit 1",
            p,
        )
        if not largest:
            return [_empty("anomalies", "Anomalies", "no data in this period")]
        dimension, value = "team", largest[0][0]
        title = f"Anomalies: none; team {value}"
        note = "no anomaly in this period: the largest team's daily cost against its baseline"
    series = _rows(
        con,
        "select charge_date, cost_usd, baseline_usd from cost_anomalies where dimension = $dimension "
        'and "value" = $value and charge_date between $start and $end order by 1',
        {**p, "dimension": dimension, "value": value},
    )
    index = {r[0]: r for r in series}
    marked = [
        (days.index(a[0]), f"{a[0]}: {_money(a[3])} vs {_money(a[4])}, driver {a[6] or 'n/a'}")
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
        _money,
        marked,
    )
    listed = table(
        "Anomalies",
        ["day", "dimension", "value", "cost", "baseline", "robust z", "driver"],
        [
            (str(d), dim, v, _money(c), _money(b), "–" if z is None else f"{z:.1f}", drv or "")
            for d, dim, v, c, b, z, drv in anomalies[:15]
        ],
    )
    return [chart, listed]


def _savings_sections(con: duckdb.DuckDBPyConnection, p: dict[str, Any]) -> list[str]:
    cache = _rows(
        con,
        "select feature, provider || '/' || model, sum(exact_repeat_calls), sum(exact_savings_usd), "
        "sum(near_duplicate_calls), sum(near_savings_usd) from prompt_duplication where charge_date between $start "
        "and $end group by 1, 2 having sum(exact_repeat_calls) + sum(near_duplicate_calls) > 0 "
        "order by sum(exact_savings_usd) + sum(near_savings_usd) desc limit 10",
        p,
    )
    routing = _rows(
        con,
        "select rule_name, from_model || ' → ' || to_model, sum(routable_calls), sum(model_calls), sum(list_usd), "
        "sum(routed_usd), sum(savings_usd) from routing_savings where charge_date between $start and $end "
        "group by 1, 2 order by sum(savings_usd) desc",
        p,
    )
    scorecard = _rows(
        con,
        "select feature, provider || '/' || model, calls, usd_per_successful_call, p50_latency_ms, p95_latency_ms, "
        "error_rate, retry_rate, cache_read_share, rank_in_feature, period_start, period_end from model_scorecard "
        "order by feature, rank_in_feature nulls last, calls desc",
        p,
    )
    period = f"{scorecard[0][10]} to {scorecard[0][11]}" if scorecard else ""
    return [
        table(
            "Cache potential: repeated prompts",
            ["feature", "model", "exact repeats", "saved", "near duplicates", "saved"],
            [(f, m, _count(e), _money(es), _count(n), _money(ns)) for f, m, e, es, n, ns in cache],
            "what a response cache would have saved, at the calls' dated list prices (estimates)",
        ),
        table(
            "Model routing savings",
            ["rule", "route", "calls that fit", "of the model's calls", "cost now", "on the cheaper model", "saved"],
            [
                (r, m, _count(c), _count(t), _money(now), _money(then), _money(s))
                for r, m, c, t, now, then, s in routing
            ],
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
                    _count(c),
                    _money(u) if u is None or u >= 0.01 else f"${float(u):.5f}",
                    _count(p50),
                    _count(p95),
                    _share(e),
                    _share(r),
                    _share(cr),
                    "" if rank is None else str(rank),
                )
                for f, m, c, u, p50, p95, e, r, cr, rank, *_ in scorecard
            ],
            f"billed cost per successful call, {period}",
        ),
    ]


def _kpis(con: duckdb.DuckDBPyConnection, p: dict[str, Any]) -> str:
    total, unallocated = _rows(
        con,
        "select sum(amount_usd), sum(amount_usd) filter (where team = 'unallocated') from fact_cost "
        "where charge_date between $start and $end",
        p,
    )[0]
    waste = _rows(
        con,
        "select sum(failed_list_usd) / nullif(sum(list_usd), 0) from retry_spend "
        "where charge_date between $start and $end",
        p,
    )[0][0]
    cache = _rows(
        con,
        "select sum(exact_savings_usd + near_savings_usd) from prompt_duplication "
        "where charge_date between $start and $end",
        p,
    )[0][0]
    routing = _rows(con, "select sum(savings_usd) from routing_savings where charge_date between $start and $end", p)[
        0
    ][0]
    anomalies = _rows(
        con, "select count(*) from cost_anomalies where is_anomaly and charge_date between $start and $end", p
    )[0][0]
    tiles = [
        ("total cost", _money(total)),
        ("without a team", _share((unallocated or 0) / total if total else None)),
        ("failed-attempt spend", _share(waste)),
        ("cache could save", _money(cache)),
        ("routing could save", _money(routing)),
        ("anomalies", _count(anomalies)),
    ]
    return (
        '<div class="kpis">'
        + "".join(f"<div><b>{escape(v)}</b><span>{escape(k)}</span></div>" for k, v in tiles)
        + "</div>"
    )


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Liberation Sans",Arial,sans-serif;margin:24px auto;
max-width:920px;color:#222;background:#fff}
h1{font-size:22px;margin:0 0 4px}h3{font-size:15px;margin:18px 0 6px}.note{color:#666;font-size:12px}
.kpis{display:flex;flex-wrap:wrap;gap:8px;margin:16px 0}.kpis div{border:1px solid #ddd;border-radius:6px;
padding:8px 12px;min-width:120px}.kpis b{display:block;font-size:18px}.kpis span{color:#666;font-size:12px}
figure.chart{margin:18px 0;border-top:1px solid #eee;padding-top:8px}figcaption{font-size:15px;margin-bottom:4px}
.legend{font-size:12px;margin:4px 0}.legend span{margin-right:12px}.legend i{display:inline-block;width:10px;
height:10px;margin-right:4px;vertical-align:middle}svg text{font-size:11px;fill:#333}svg .tick{fill:#777}
svg .grid{stroke:#eee}svg .axis{stroke:#999}table{border-collapse:collapse;font-size:12px;width:100%}
td,th{border-bottom:1px solid #eee;padding:3px 6px;text-align:left}th{background:#f6f6f6}
"""


def _page(title: str, lead: str, body: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f'<h1>{escape(title)}</h1><p class="note">{escape(lead)}</p>{body}</body></html>'
    )


def _no_data(lake: Lake) -> str:
    """The report of a lake whose fact_cost has no row: what that means and what to do."""
    return _page(
        "AI cost report: no data yet",
        f"apportion: fact_cost in {lake.root} has no row yet, so there is nothing to chart.",
        '<section class="no-data" id="no_data" data-chart="no_data"><p>No cost was attributed yet. Run '
        "<code>apportion run --start YYYY-MM-DD --end YYYY-MM-DD</code> over days your sources cover; if it ran, "
        "its closing table lists the days, sources and assets that failed, and each source that found nothing "
        "says where it looked.</p></section>",
    )


def render_report(lake: Lake, *, start: date | None = None, end: date | None = None) -> str:
    """The report as one HTML document (a "no data yet" page when fact_cost has no row)."""
    con, first, last = _open(lake)
    try:
        if first is None or last is None:
            return _no_data(lake)
        p = {"start": start or first, "end": end or last}
        if p["end"] < p["start"]:
            raise ReportError(f"--end {p['end']} is before --start {p['start']}")
        body = _kpis(con, p) + "".join(_sections(con, p))
    finally:
        con.close()
    return _page(
        f"AI cost report {p['start']} to {p['end']}",
        f"apportion: billed cost from fact_cost (data up to {last}); "
        "list-priced figures are estimates at the calls' dated list prices.",
        body,
    )


def write_report(lake: Lake, out: Path, *, start: date | None = None, end: date | None = None) -> Path:
    """Write the report to `out` atomically; returns `out`."""
    html = render_report(lake, start=start, end=end)
    with atomic_path(Path(out)) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return Path(out)
