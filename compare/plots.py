"""Inline SVG plots for the report: drawn here, so the page needs no plotting library or network.

Every label that may come from data (model and task names) is escaped; the functions return
:class:`markupsafe.Markup` ready to place in a template.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

#: Colour-blind-safe palette (Okabe-Ito), one colour per model in list order.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
SUITE_COLOURS = {"domain": "#D55E00", "general": "#0072B2"}


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: str
    colour: str
    title: str = ""


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        high = low + 1e-9
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = min((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw), default=raw)
    start = math.ceil(low / step) * step
    return [round(start + i * step, 10) for i in range(int((high - start) / step + 1e-9) + 1)]


def _range(values: Sequence[float], pad: float = 0.05) -> tuple[float, float]:
    low, high = min(values), max(values)
    span = (high - low) or max(abs(high), 1.0) * 0.1
    return low - span * pad * 2, high + span * pad * 2


class _Frame:
    """Axes of one plot: maps data coordinates into a ``width`` x ``height`` SVG."""

    def __init__(self, x: tuple[float, float], y: tuple[float, float], width: int = 520, height: int = 360) -> None:
        self.width, self.height = width, height
        self.left, self.right, self.top, self.bottom = 60, 20, 20, 50
        self.x0, self.x1 = x
        self.y0, self.y1 = y

    def sx(self, x: float) -> float:
        return self.left + (x - self.x0) / (self.x1 - self.x0) * (self.width - self.left - self.right)

    def sy(self, y: float) -> float:
        return self.height - self.bottom - (y - self.y0) / (self.y1 - self.y0) * (self.height - self.top - self.bottom)

    def axes(self, x_label: str, y_label: str, x_ticks: bool = True) -> list[str]:
        parts = []
        for tick in _ticks(self.y0, self.y1):
            y = self.sy(tick)
            parts.append(
                f'<line class="grid" x1="{self.left}" x2="{self.width - self.right}" y1="{y:.1f}" y2="{y:.1f}"/>'
            )
            parts.append(f'<text class="tick" x="{self.left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick:g}</text>')
        if x_ticks:
            for tick in _ticks(self.x0, self.x1):
                x = self.sx(tick)
                parts.append(
                    f'<text class="tick" x="{x:.1f}" y="{self.height - self.bottom + 16}" text-anchor="middle">{tick:g}</text>'
                )
        base = self.height - self.bottom
        parts.append(f'<line class="axis" x1="{self.left}" x2="{self.width - self.right}" y1="{base}" y2="{base}"/>')
        parts.append(f'<line class="axis" x1="{self.left}" x2="{self.left}" y1="{self.top}" y2="{base}"/>')
        middle = (self.left + self.width - self.right) / 2
        parts.append(
            f'<text class="label" x="{middle:.1f}" y="{self.height - 8}" text-anchor="middle">{escape(x_label)}</text>'
        )
        cy = (self.top + base) / 2
        parts.append(
            f'<text class="label" x="14" y="{cy:.1f}" text-anchor="middle" transform="rotate(-90 14 {cy:.1f})">{escape(y_label)}</text>'
        )
        return parts

    def svg(self, parts: list[str], title: str) -> Markup:
        body = "\n".join(parts)
        return Markup(
            f'<svg class="plot" viewBox="0 0 {self.width} {self.height}" width="{self.width}" height="{self.height}" '
            f'role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>\n{body}\n</svg>'
        )


def scatter(
    points: Sequence[Point], x_label: str, y_label: str, title: str, diagonal: bool = False, labels: bool = True
) -> Markup:
    """A scatter plot; ``diagonal`` draws y = x (equal scores on both axes)."""
    if not points:
        return Markup('<p class="note">Nothing to plot.</p>')
    xs, ys = [p.x for p in points], [p.y for p in points]
    if diagonal:
        both = _range(xs + ys)
        frame = _Frame(both, both)
    else:
        frame = _Frame(_range(xs), _range(ys))
    if labels:  # room for the labels of the right-most points
        frame.width += 140
        frame.right += 140
    parts = frame.axes(x_label, y_label)
    if diagonal:
        lo, hi = frame.x0, frame.x1
        parts.append(
            f'<line class="diagonal" x1="{frame.sx(lo):.1f}" y1="{frame.sy(lo):.1f}" x2="{frame.sx(hi):.1f}" y2="{frame.sy(hi):.1f}"/>'
        )
    for p in points:
        x, y = frame.sx(p.x), frame.sy(p.y)
        tip = escape(p.title or f"{p.label}: ({p.x:.3f}, {p.y:.3f})")
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{p.colour}"><title>{tip}</title></circle>')
        if labels:
            parts.append(f'<text class="point-label" x="{x + 8:.1f}" y="{y + 4:.1f}">{escape(p.label)}</text>')
    return frame.svg(parts, title)


@dataclass(frozen=True)
class Bar:
    group: str
    series: str
    value: float
    low: float | None
    high: float | None
    colour: str


def bars(bars: Sequence[Bar], groups: Sequence[str], series: Sequence[str], y_label: str, title: str) -> Markup:
    """Grouped bars (one group per task type, one bar per model) with interval whiskers."""
    if not bars:
        return Markup('<p class="note">Nothing to plot.</p>')
    top = max(max(b.high if b.high is not None else b.value for b in bars), 0.0)
    bottom = min(min(b.low if b.low is not None else b.value for b in bars), 0.0)
    width = max(520, 90 + len(groups) * (len(series) * 14 + 24))
    frame = _Frame((0, len(groups)), (bottom, top * 1.05 or 1.0), width=width)
    parts = frame.axes("", y_label, x_ticks=False)
    slot = (frame.width - frame.left - frame.right) / max(len(groups), 1)
    bar_width = min(14.0, (slot - 16) / max(len(series), 1))
    by_key = {(b.group, b.series): b for b in bars}
    zero = frame.sy(0)
    for g, group in enumerate(groups):
        x0 = frame.left + g * slot + (slot - bar_width * len(series)) / 2
        for s, name in enumerate(series):
            bar = by_key.get((group, name))
            if bar is None:
                continue
            x = x0 + s * bar_width
            y = frame.sy(bar.value)
            tip = f"{name} on {group}: {bar.value:.3f}"
            if bar.low is not None and bar.high is not None:
                tip += f" [{bar.low:.3f}, {bar.high:.3f}]"
            parts.append(
                f'<rect x="{x:.1f}" y="{min(y, zero):.1f}" width="{bar_width - 2:.1f}" height="{abs(zero - y):.1f}" fill="{bar.colour}">'
                f"<title>{escape(tip)}</title></rect>"
            )
            if bar.low is not None and bar.high is not None:
                cx = x + (bar_width - 2) / 2
                y_low, y_high = frame.sy(bar.low), frame.sy(bar.high)
                parts.append(f'<line class="whisker" x1="{cx:.1f}" x2="{cx:.1f}" y1="{y_low:.1f}" y2="{y_high:.1f}"/>')
                for yy in (y_low, y_high):
                    parts.append(
                        f'<line class="whisker" x1="{cx - 3:.1f}" x2="{cx + 3:.1f}" y1="{yy:.1f}" y2="{yy:.1f}"/>'
                    )
        label_x = frame.left + g * slot + slot / 2
        parts.append(
            f'<text class="tick" x="{label_x:.1f}" y="{frame.height - frame.bottom + 16}" text-anchor="middle">{escape(group)}</text>'
        )
    return frame.svg(parts, title)


def legend(entries: Mapping[str, str]) -> Markup:
    """A row of colour swatches (HTML, not SVG)."""
    items = "".join(
        f'<span class="swatch" style="background:{c}"></span>{escape(name)}&nbsp;&nbsp;' for name, c in entries.items()
    )
    return Markup(f'<p class="legend">{items}</p>')


# ----------------------------------------------------------------------------- cost plots
# Presentation attributes rather than classes: the page's stylesheet stays as it is.
_FRONT_STYLE = 'fill="none" stroke="#1b1f24" stroke-width="1.5" stroke-dasharray="5 3"'


def _log_ticks(low: float, high: float) -> list[float]:
    """Powers of ten (and 2x, 5x between them when the span is short) within ``[low, high]`` (log10 units)."""
    ticks = [float(e) for e in range(math.floor(low), math.ceil(high) + 1) if low <= e <= high]
    if len(ticks) < 3:
        ticks = sorted(
            math.log10(m * 10.0**e)
            for e in range(math.floor(low), math.ceil(high) + 1)
            for m in (1, 2, 5)
            if low <= math.log10(m * 10.0**e) <= high
        )
    return ticks


def _log_frame(xs: Sequence[float], ys: Sequence[float], x_label: str, y_label: str, extra_right: int = 0):
    logs = [math.log10(x) for x in xs]
    frame = _Frame(_range(logs), _range(ys))
    frame.width += extra_right
    frame.right += extra_right
    parts = frame.axes(x_label, y_label, x_ticks=False)
    for tick in _log_ticks(frame.x0, frame.x1):
        parts.append(
            f'<text class="tick" x="{frame.sx(tick):.1f}" y="{frame.height - frame.bottom + 16}" '
            f'text-anchor="middle">{10**tick:g}</text>'
        )
    return frame, parts


def pareto_scatter(points: Sequence[Point], front: Sequence[int], x_label: str, y_label: str, title: str) -> Markup:
    """Points on a log x axis; the points at ``front`` (indices, higher is better on both axes) are ringed and
    joined by a dashed staircase, the Pareto front."""
    points = [p for p in points if p.x > 0]
    if not points:
        return Markup('<p class="note">Nothing to plot.</p>')
    frame, parts = _log_frame([p.x for p in points], [p.y for p in points], x_label, y_label, extra_right=140)
    on_front = sorted((points[i] for i in front if i < len(points)), key=lambda p: p.x)
    if len(on_front) > 1:
        corners = []
        for left, right in zip(on_front, on_front[1:], strict=False):
            corners += [(left.x, left.y), (left.x, right.y)]
        corners.append((on_front[-1].x, on_front[-1].y))
        path = " ".join(f"{frame.sx(math.log10(x)):.1f},{frame.sy(y):.1f}" for x, y in corners)
        parts.append(f'<polyline points="{path}" {_FRONT_STYLE}><title>Pareto front</title></polyline>')
    front_ids = {id(p) for p in on_front}
    for p in points:
        x, y = frame.sx(math.log10(p.x)), frame.sy(p.y)
        tip = escape(p.title or f"{p.label}: ({p.x:.3g}, {p.y:.3f})")
        if id(p) in front_ids:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="9" fill="none" stroke="#1b1f24" stroke-width="1.5"/>')
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{p.colour}"><title>{tip}</title></circle>')
        parts.append(f'<text class="point-label" x="{x + 11:.1f}" y="{y + 4:.1f}">{escape(p.label)}</text>')
    return frame.svg(parts, title)


@dataclass(frozen=True)
class Curve:
    """One model's points, joined in order of x; each point's label names it (``int8``, ``float32@64``)."""

    label: str
    colour: str
    points: tuple[Point, ...]


def curves(series: Sequence[Curve], x_label: str, y_label: str, title: str) -> Markup:
    """One line per series on a log x axis, each point marked and labelled."""
    every = [p for curve in series for p in curve.points if p.x > 0]
    if not every:
        return Markup('<p class="note">Nothing to plot.</p>')
    frame, parts = _log_frame([p.x for p in every], [p.y for p in every], x_label, y_label, extra_right=140)
    for curve in series:
        ordered = sorted((p for p in curve.points if p.x > 0), key=lambda p: p.x)
        coords = [(frame.sx(math.log10(p.x)), frame.sy(p.y)) for p in ordered]
        if len(coords) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{curve.colour}" stroke-width="2">'
                f"<title>{escape(curve.label)}</title></polyline>"
            )
        for p, (x, y) in zip(ordered, coords, strict=True):
            tip = escape(p.title or f"{curve.label} {p.label}: ({p.x:g}, {p.y:.3f})")
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{curve.colour}"><title>{tip}</title></circle>')
            parts.append(f'<text class="point-label" x="{x + 7:.1f}" y="{y - 6:.1f}">{escape(p.label)}</text>')
        if coords:
            x, y = coords[-1]
            parts.append(
                f'<text class="point-label" x="{x + 7:.1f}" y="{y + 12:.1f}" fill="{curve.colour}">{escape(curve.label)}</text>'
            )
    return frame.svg(parts, title)
