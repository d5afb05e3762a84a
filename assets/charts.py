"""The report's charts: inline SVG drawn from small aggregates (a few hundred numbers), with the exact values in
each mark's tooltip, so the page needs no script, stylesheet, font or image. Each chart returns its `<figure>` as
`Markup`, ready for the report template."""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from html import escape

from markupsafe import Markup

PALETTE = ("#3b6fb6", "#e07b39", "#4f9d69", "#c5504b", "#8064a2", "#d4a72c", "#4bacc6", "#9b6b43", "#7f7f7f")
WIDTH = 880
Number = float | int | Decimal


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


def money(value: Number | None) -> str:
    return "–" if value is None else f"${float(value):,.2f}"


def share(value: Number | None) -> str:
    return "–" if value is None else f"{float(value) * 100:.1f}%"


def count(value: Number | None) -> str:
    return "–" if value is None else f"{float(value):,.0f}"


def _figure(name: str, title: str, note: str, svg_body: str, height: int, legend: str = "") -> Markup:
    return Markup(
        f'<figure class="chart" id="{name}" data-chart="{name}"><figcaption><b>{escape(title)}</b> '
        f'<span class="note">{escape(note)}</span></figcaption>{legend}'
        f'<svg class="plot" role="img" aria-label="{escape(title)}" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}">{svg_body}</svg></figure>'
    )


def empty(name: str, title: str, why: str) -> Markup:
    return Markup(
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


def bar_chart(name: str, title: str, note: str, items: Sequence[tuple[str, Number]], fmt=money) -> Markup:
    """Horizontal bars, largest first."""
    if not items:
        return empty(name, title, "no data in this period")
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
    name: str, title: str, note: str, days: Sequence[date], series: dict[str, list[float]], fmt=money
) -> Markup:
    """One column per day, stacked by series (negative amounts, such as credits, are left out of the stack)."""
    if not days:
        return empty(name, title, "no data in this period")
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
) -> Markup:
    """Lines over days (a gap where a value is missing); `markers` are (day index, tooltip) on the first series."""
    values = [v for line in series.values() for v in line if v is not None]
    if not days or not values:
        return empty(name, title, "no data in this period")
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
) -> Markup:
    """Horizontal bars (a point estimate) with whiskers from low to high; no whisker where the interval is unknown
    (too short a history), and the tooltip says so."""
    if not items:
        return empty(name, title, "no data in this period")
    bar, gap = 18, 8
    frame = Frame(right=90, height=len(items) * (bar + gap))
    top = _nice_max(max(float(point if high is None else high) for _, point, _, high in items))
    body = [f'<line class="axis" x1="{frame.left}" x2="{frame.left}" y1="{frame.top}" y2="{frame.bottom}"/>']
    for i, (label, point, low, high) in enumerate(items):
        y = frame.top + i * (bar + gap)

        def x(v: Number) -> float:
            return frame.left + frame.width * float(v) / top

        if low is None or high is None:
            tip = escape(f"{label}: {money(point)} (no interval: too few days of history)")
            whisker = ""
        else:
            tip = escape(f"{label}: {money(point)} ({money(low)} – {money(high)})")
            whisker = (
                f'<line class="mark whisker" x1="{x(low):.1f}" x2="{x(high):.1f}" y1="{y + bar / 2}" '
                f'y2="{y + bar / 2}" stroke="#222" stroke-width="2"><title>{tip}</title></line>'
            )
        body.append(
            f'<text class="label" x="{frame.left - 6}" y="{y + bar - 5}" text-anchor="end">{escape(label[:22])}</text>'
            f'<rect class="mark" x="{frame.left}" y="{y}" width="{max(1.0, x(point) - frame.left):.1f}" '
            f'height="{bar}" fill="{PALETTE[0]}" opacity="0.8"><title>{tip}</title></rect>{whisker}'
            f'<text class="value" x="{x(point if high is None else high) + 4:.1f}" y="{y + bar - 5}">'
            f"{escape(money(point))}</text>"
        )
    return _figure(name, title, note, "".join(body), frame.bottom + 8)


def budget_bars(name: str, title: str, note: str, items: Sequence[tuple[str, Number, Number, str]]) -> Markup:
    """Per budget: month-to-date share of the budget (bar) and forecast share (tick), against a 100 % line."""
    if not items:
        return empty(name, title, "no budgets configured (config/insights.yaml)")
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
        tip = f"{label}: {share(used)} used, forecast {share(forecast)} ({status})"
        body.append(
            f'<text class="label" x="{frame.left - 6}" y="{y + bar - 5}" text-anchor="end">{escape(label[:22])}</text>'
            f'<rect class="mark" x="{frame.left}" y="{y}" width="{max(1.0, x(used) - frame.left):.1f}" '
            f'height="{bar}" fill="{colors.get(status, PALETTE[0])}"><title>{escape(tip)}</title></rect>'
            f'<line class="mark" x1="{x(forecast):.1f}" x2="{x(forecast):.1f}" y1="{y - 3}" y2="{y + bar + 3}" '
            f'stroke="#222" stroke-width="3"><title>{escape(tip)}</title></line>'
        )
    return _figure(name, title, note, "".join(body), frame.bottom + 8)
