"""Figures rows → the layout of a line chart, drawn as inline SVG on the server. Pure.

No script, no font or file from elsewhere: the page stays readable offline, under
the web view's strict Content-Security-Policy, and in an archived copy. One line
per series (a key, for one value column), one point per period; a period the
report left blank (not reported) breaks the line rather than drawing a 0. A
range (``0 - 249``) is drawn at its middle with a bar from low to high. A
restated point is drawn as a hollow diamond. Every point links to the capture
that first showed its figure and carries a tooltip (``<title>``) with its text.
Bidirectional controls in the report's text are shown as ``[U+202E]``
(``monitor.text.safe``): they could reorder a label.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from monitor.figures.model import Key, period_order
from monitor.figures.series import FigureRow
from monitor.text.safe import show_bidi

WIDTH, HEIGHT = 720, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 72
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
MAX_SERIES = len(PALETTE)


@dataclass(frozen=True, slots=True)
class Point:
    period: str
    value: Decimal | None  # None: not reported, or a text without a number
    low: Decimal | None
    high: Decimal | None
    text: str
    restated_from: tuple[str, ...]
    capture_seq: int | None
    withdrawn: bool = False


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    points: tuple[Point, ...]


def series_of(rows: Sequence[FigureRow], column: str) -> list[Series]:
    """One series per key, for one value column, points in period order."""
    by_key: dict[Key, list[Point]] = {}
    for row in rows:
        value = dict(row.values).get(column)
        if value is None:
            continue
        olds = tuple(r.old for r in row.restatements if r.column == column)
        restated_at = [r.change_seq for r in row.restatements if r.column == column]
        seq = restated_at[-1] if restated_at else (row.first_seen.seq if row.first_seen else None)
        by_key.setdefault(row.key_cells, []).append(
            Point(
                period=row.period,
                value=value.midpoint if value.reported else None,
                low=value.low,
                high=value.high,
                text=value.text if value.reported else "not reported",
                restated_from=olds,
                capture_seq=seq,
                withdrawn=row.withdrawn is not None,
            )
        )
    return [
        Series(" · ".join(key), tuple(sorted(points, key=lambda p: period_order(p.period))))
        for key, points in sorted(by_key.items())
    ]


def _nice_top(top: Decimal) -> Decimal:
    if top <= 0:
        return Decimal(1)
    exponent = len(str(int(top))) - 1
    unit = Decimal(10) ** exponent
    for step in (1, 2, 2.5, 5, 10):
        candidate = unit * Decimal(str(step))
        if candidate >= top:
            return candidate
    return unit * 10


def _num(value: Decimal) -> str:
    if value == value.to_integral_value():
        return f"{int(value):,}"
    return f"{value.normalize():f}"


@dataclass(frozen=True, slots=True)
class Mark:
    """One drawn point: where, how (dot or hollow diamond), its tooltip and link."""

    x: float
    y: float
    color: str
    restated: bool
    tip: str
    href: str | None
    range_top: float | None = None  # a range: a bar from range_bottom to range_top
    range_bottom: float | None = None


@dataclass(frozen=True, slots=True)
class Chart:
    """The geometry of a chart; ``templates/_figures_chart.html`` draws it as SVG."""

    title: str
    width: int
    height: int
    gridlines: tuple[tuple[float, str], ...]  # (y, label)
    xlabels: tuple[tuple[float, str], ...]  # (x, period)
    lines: tuple[tuple[str, str], ...]  # (color, "x,y x,y …")
    marks: tuple[Mark, ...]
    legend: tuple[tuple[float, str, str], ...]  # (y, color, label)
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT
    axis_y: int = HEIGHT - BOTTOM


def layout(series: Sequence[Series], *, title: str, href: Callable[[int], str | None]) -> Chart:
    """Where everything goes. Values are numbers and plain strings; the template escapes."""
    shown = list(series[:MAX_SERIES])
    periods = sorted({p.period for s in shown for p in s.points}, key=period_order)
    values = [v for s in shown for p in s.points for v in (p.value, p.high) if v is not None]
    top = _nice_top(max(values, default=Decimal(0)))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(1, len(periods) - 1)

    def x(period: str) -> float:
        return round(LEFT + (periods.index(period) * step if len(periods) > 1 else plot_w / 2), 1)

    def y(value: Decimal) -> float:
        return round(TOP + plot_h - float(value / top) * plot_h, 1)

    every = max(1, len(periods) // 12)
    lines: list[tuple[str, str]] = []
    marks: list[Mark] = []
    for number, line in enumerate(shown):
        color = PALETTE[number]
        segment: list[str] = []
        for point in (*line.points, None):
            if point is None or point.value is None:
                if len(segment) > 1:
                    lines.append((color, " ".join(segment)))
                segment = []
                continue
            segment.append(f"{x(point.period)},{y(point.value)}")
        for point in line.points:
            if point.value is None:
                continue
            tip = show_bidi(f"{line.label} · {point.period}: {point.text}")
            if point.restated_from:
                olds = " → ".join(o or "not reported" for o in point.restated_from)
                tip += f" (restated from {olds})"
            if point.withdrawn:
                tip += " (no longer in the report)"
            ranged = point.low is not None and point.high is not None and point.low != point.high
            marks.append(
                Mark(
                    x=x(point.period),
                    y=y(point.value),
                    color=color,
                    restated=bool(point.restated_from),
                    tip=tip,
                    href=href(point.capture_seq) if point.capture_seq is not None else None,
                    range_top=y(point.high) if ranged and point.high is not None else None,
                    range_bottom=y(point.low) if ranged and point.low is not None else None,
                )
            )
    return Chart(
        title=title,
        width=WIDTH,
        height=HEIGHT + 18 * len(shown),
        gridlines=tuple((y(t), _num(t)) for t in (Decimal(0), top / 2, top)),
        xlabels=tuple((x(p), show_bidi(p)) for i, p in enumerate(periods) if i % every == 0),
        lines=tuple(lines),
        marks=tuple(marks),
        legend=tuple(
            (HEIGHT + 18 * n, PALETTE[n], show_bidi(s.label)) for n, s in enumerate(shown)
        ),
    )
