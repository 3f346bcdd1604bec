"""Small, dependency-free SVG charts for the admin dashboard: a line chart (several series, each with
an optional confidence band) and a bar chart (single or stacked series).

The markup is inline SVG that passes a strict Content-Security-Policy: presentation attributes only
(fill, stroke, x, y …), never a `style` attribute or a script. Text is escaped; every chart has a
<title> and <desc> (read by screen readers through aria-labelledby) and each point its own <title>
(a tooltip). The same input always gives the same bytes (fixed number formatting, no random ids).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

#: Colour-blind-safe palette (Okabe-Ito), used in order; CSS may restyle via the series-N classes.
PALETTE = (
    "#0072b2",
    "#e69f00",
    "#009e73",
    "#d55e00",
    "#cc79a7",
    "#56b4e9",
    "#b8a100",
    "#000000",
    "#882255",
    "#999999",
)

WIDTH = 640
HEIGHT = 240
MARGIN_LEFT = 56
MARGIN_RIGHT = 16
MARGIN_TOP = 12
MARGIN_BOTTOM = 44
LEGEND_ROW_H = 18
MAX_X_LABELS = 6
Y_TICKS = 4


@dataclass(frozen=True)
class Series:
    """One named line (or bar stack layer): a value per x position, None where there is no data.
    `band` holds a (low, high) pair per position (None where unknown), drawn as a shaded area."""

    name: str
    values: Sequence[float | None]
    band: Sequence[tuple[float, float] | None] | None = None


def _esc(text: str) -> str:
    return escape(text, quote=True)


def _n(value: float) -> str:
    """A coordinate with at most two decimals and no trailing zeros (stable output)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _finite(value: float | None) -> bool:
    return value is not None and isinstance(value, int | float) and math.isfinite(value)


def _clean(values: Sequence[float | None], n: int) -> list[float | None]:
    """`n` values: each a float when finite, else None (missing, NaN, infinite or past the end)."""
    out: list[float | None] = []
    for i in range(n):
        v = values[i] if i < len(values) else None
        out.append(float(v) if v is not None and _finite(v) else None)
    return out


def _label(x_labels: Sequence[str], i: int) -> str:
    return x_labels[i] if i < len(x_labels) else str(i)


def default_format(value: float) -> str:
    """Whole numbers without decimals; else 3 significant digits or so (2 decimals below 10)."""
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}".rstrip("0").rstrip(".") if value else "0"


def percent_format(value: float) -> str:
    return f"{value * 100:.0f}%"


def nice_step(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10^k that is ≥ value (1 when value ≤ 0)."""
    if not _finite(value) or value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for mantissa in (1.0, 2.0, 2.5, 5.0, 10.0):
        step = mantissa * 10.0**exponent
        if step >= value * (1 - 1e-12):
            return step
    return 10.0 ** (exponent + 1)


def nice_scale(value: float, ticks: int = Y_TICKS, *, integer: bool = False) -> tuple[float, float]:
    """(axis top, tick step) for data up to `value`: a round step, about `ticks` of them, and the
    first multiple of it at or above the value (so every tick label is a round number). `integer`:
    the data are counts, so the step is a whole number too."""
    if not _finite(value) or value <= 0:
        return (1.0, 1.0) if integer else (1.0, 1.0 / ticks)
    step = nice_step(value / ticks)
    if integer:
        step = 1.0 if step < 1 else (5.0 if step == 2.5 else step)
    return step * math.ceil(value / step * (1 - 1e-12)), step


@dataclass(frozen=True)
class _Frame:
    width: int
    height: int
    n: int
    y_min: float
    y_max: float
    legend_rows: int
    y_step: float = 0.0

    @property
    def plot_left(self) -> float:
        return MARGIN_LEFT

    @property
    def plot_right(self) -> float:
        return self.width - MARGIN_RIGHT

    @property
    def plot_top(self) -> float:
        return MARGIN_TOP

    @property
    def plot_bottom(self) -> float:
        return self.height - MARGIN_BOTTOM - self.legend_rows * LEGEND_ROW_H

    def x(self, index: float) -> float:
        """Centre of slot `index` (n slots share the plot width)."""
        slot = (self.plot_right - self.plot_left) / max(self.n, 1)
        return self.plot_left + slot * (index + 0.5)

    @property
    def slot(self) -> float:
        return (self.plot_right - self.plot_left) / max(self.n, 1)

    def y(self, value: float) -> float:
        span = self.y_max - self.y_min or 1.0
        clamped = max(self.y_min, min(self.y_max, value))
        return self.plot_bottom - (clamped - self.y_min) / span * (self.plot_bottom - self.plot_top)


def _open(chart_id: str, frame: _Frame, title: str, description: str, kind: str) -> list[str]:
    return [
        f'<svg class="chart chart-{kind}" id="{_esc(chart_id)}" viewBox="0 0 {frame.width} {frame.height}" '
        f'width="{frame.width}" height="{frame.height}" role="img" '
        f'aria-labelledby="{_esc(chart_id)}-title {_esc(chart_id)}-desc" '
        'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMinYMin meet">',
        f'<title id="{_esc(chart_id)}-title">{_esc(title)}</title>',
        f'<desc id="{_esc(chart_id)}-desc">{_esc(description)}</desc>',
    ]


def _axes(
    frame: _Frame,
    x_labels: Sequence[str],
    y_label: str,
    x_label: str,
    y_format: Callable[[float], str],
) -> list[str]:
    out = ['<g class="axes" font-size="11" fill="#555">']
    step = frame.y_step or (frame.y_max - frame.y_min) / Y_TICKS
    count = max(1, round((frame.y_max - frame.y_min) / step))
    for i in range(count + 1):
        value = frame.y_min + step * i
        y = _n(frame.y(value))
        out.append(
            f'<line class="grid" x1="{_n(frame.plot_left)}" y1="{y}" x2="{_n(frame.plot_right)}" y2="{y}" '
            'stroke="#ddd" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{_n(frame.plot_left - 6)}" y="{y}" text-anchor="end" dominant-baseline="middle">'
            f"{_esc(y_format(value))}</text>"
        )
    out.append(
        f'<line class="axis" x1="{_n(frame.plot_left)}" y1="{_n(frame.plot_bottom)}" '
        f'x2="{_n(frame.plot_right)}" y2="{_n(frame.plot_bottom)}" stroke="#888" stroke-width="1"/>'
    )
    if x_labels:
        step = max(1, math.ceil(len(x_labels) / MAX_X_LABELS))
        for i in range(0, len(x_labels), step):
            out.append(
                f'<text x="{_n(frame.x(i))}" y="{_n(frame.plot_bottom + 14)}" text-anchor="middle">'
                f"{_esc(x_labels[i])}</text>"
            )
    if x_label:
        out.append(
            f'<text class="axis-label" x="{_n((frame.plot_left + frame.plot_right) / 2)}" '
            f'y="{_n(frame.plot_bottom + 30)}" text-anchor="middle">{_esc(x_label)}</text>'
        )
    if y_label:
        cx, cy = 12, (frame.plot_top + frame.plot_bottom) / 2
        out.append(
            f'<text class="axis-label" x="{cx}" y="{_n(cy)}" text-anchor="middle" '
            f'transform="rotate(-90 {cx} {_n(cy)})">{_esc(y_label)}</text>'
        )
    out.append("</g>")
    return out


def _legend_layout(names: Sequence[str], width: int) -> list[tuple[int, float]]:
    """(row, x) for each legend entry, wrapping at the chart's width (text width estimated)."""
    placed: list[tuple[int, float]] = []
    row, x = 0, float(MARGIN_LEFT)
    for name in names:
        entry_w = 22 + 7 * len(name)
        if x + entry_w > width - MARGIN_RIGHT and x > MARGIN_LEFT:
            row, x = row + 1, float(MARGIN_LEFT)
        placed.append((row, x))
        x += entry_w + 12
    return placed


def _legend(frame: _Frame, names: Sequence[str], layout: Sequence[tuple[int, float]]) -> list[str]:
    out = ['<g class="legend" font-size="11" fill="#333">']
    base = frame.height - frame.legend_rows * LEGEND_ROW_H - 2
    for i, (name, (row, x)) in enumerate(zip(names, layout, strict=True)):
        y = base + row * LEGEND_ROW_H + LEGEND_ROW_H / 2
        colour = PALETTE[i % len(PALETTE)]
        out.append(
            f'<g class="legend-item series-{i}"><rect x="{_n(x)}" y="{_n(y - 5)}" width="14" height="10" '
            f'fill="{colour}"/><text x="{_n(x + 18)}" y="{_n(y)}" dominant-baseline="middle">'
            f"{_esc(name)}</text></g>"
        )
    out.append("</g>")
    return out


def _empty_frame(chart_id: str, title: str, empty_text: str, width: int, height: int) -> str:
    frame = _Frame(width, height, 1, 0.0, 1.0, 0)
    parts = _open(chart_id, frame, title, empty_text, "empty")
    parts.append(
        f'<text class="chart-empty" x="{_n(width / 2)}" y="{_n(height / 2)}" text-anchor="middle" '
        f'font-size="13" fill="#777">{_esc(empty_text)}</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts)


def line_chart(
    series: Sequence[Series],
    *,
    chart_id: str,
    title: str,
    x_labels: Sequence[str],
    y_label: str = "",
    x_label: str = "",
    y_max: float | None = None,
    y_format: Callable[[float], str] = default_format,
    empty_text: str = "No data",
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """Lines over shared x positions (gaps where a value is None), each with its optional band.
    `y_max` fixes the top of the axis (1.0 for rates); else it is rounded up from the data."""
    n = max([len(x_labels), *(len(s.values) for s in series)], default=0)
    clean = [_clean(s.values, n) for s in series]
    values = [v for vals in clean for v in vals if v is not None]
    bands = [float(x) for s in series for b in (s.band or ()) if b is not None for x in b if _finite(x)]
    if n == 0 or not values:
        return _empty_frame(chart_id, title, empty_text, width, height)
    if y_max is not None:
        top, step = y_max, nice_step(y_max / Y_TICKS)
    else:
        top, step = nice_scale(max([*values, *bands]))
    bottom = min(0.0, min([*values, *bands]))
    if bottom < 0:  # extend down to a whole number of steps below 0
        bottom = -step * math.ceil(-bottom / step)
    layout = _legend_layout([s.name for s in series], width)
    rows = (max(r for r, _ in layout) + 1) if layout else 0
    frame = _Frame(width, height, n, bottom, top, rows, step)
    description = "; ".join(
        f"{s.name}: "
        + ", ".join(f"{_label(x_labels, i)} {y_format(v)}" for i, v in enumerate(vals) if v is not None)
        for s, vals in zip(series, clean, strict=True)
    )
    parts = _open(chart_id, frame, title, description, "line")
    parts += _axes(frame, x_labels, y_label, x_label, y_format)
    for index, (s, vals) in enumerate(zip(series, clean, strict=True)):
        colour = PALETTE[index % len(PALETTE)]
        parts.append(f'<g class="series series-{index}" data-series="{_esc(s.name)}">')
        if s.band is not None:
            parts += _band_paths(frame, s.band, colour)
        for run in _runs(vals):
            points = " ".join(f"{_n(frame.x(i))},{_n(frame.y(v))}" for i, v in run)
            parts.append(
                f'<polyline class="line" points="{points}" fill="none" stroke="{colour}" '
                'stroke-width="2" stroke-linejoin="round" stroke-linecap="round"/>'
            )
        for i, v in enumerate(vals):
            if v is not None:
                parts.append(
                    f'<circle class="point" cx="{_n(frame.x(i))}" cy="{_n(frame.y(v))}" r="3" '
                    f'fill="{colour}"><title>{_esc(f"{s.name} · {_label(x_labels, i)}: {y_format(v)}")}'
                    "</title></circle>"
                )
        parts.append("</g>")
    parts += _legend(frame, [s.name for s in series], layout)
    parts.append("</svg>")
    return "\n".join(parts)


def _runs(values: Sequence[float | None]) -> list[list[tuple[int, float]]]:
    """Consecutive present values (a missing value breaks the line)."""
    runs: list[list[tuple[int, float]]] = []
    current: list[tuple[int, float]] = []
    for i, v in enumerate(values):
        if v is not None:
            current.append((i, v))
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def _band_paths(frame: _Frame, band: Sequence[tuple[float, float] | None], colour: str) -> list[str]:
    out: list[str] = []
    segment: list[tuple[int, float, float]] = []

    def flush() -> None:
        if not segment:
            return
        if len(segment) == 1:  # a lone interval: a vertical error bar
            i, lo, hi = segment[0]
            out.append(
                f'<line class="band" x1="{_n(frame.x(i))}" y1="{_n(frame.y(lo))}" x2="{_n(frame.x(i))}" '
                f'y2="{_n(frame.y(hi))}" stroke="{colour}" stroke-opacity="0.35" stroke-width="6"/>'
            )
        else:
            upper = [f"{_n(frame.x(i))},{_n(frame.y(hi))}" for i, _lo, hi in segment]
            lower = [f"{_n(frame.x(i))},{_n(frame.y(lo))}" for i, lo, _hi in reversed(segment)]
            out.append(
                f'<polygon class="band" points="{" ".join(upper + lower)}" fill="{colour}" '
                'fill-opacity="0.18" stroke="none"/>'
            )
        segment.clear()

    for i, pair in enumerate(band):
        if pair is not None and _finite(pair[0]) and _finite(pair[1]):
            segment.append((i, float(min(pair)), float(max(pair))))
        else:
            flush()
    flush()
    return out


def bar_chart(
    series: Sequence[Series],
    *,
    chart_id: str,
    title: str,
    x_labels: Sequence[str],
    y_label: str = "",
    x_label: str = "",
    y_format: Callable[[float], str] = default_format,
    empty_text: str = "No data",
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """Bars per x position; several series are stacked (their values add up, bottom first)."""
    n = max([len(x_labels), *(len(s.values) for s in series)], default=0)
    # Bars show amounts: a negative or missing value draws nothing.
    clean = [[v if v is not None and v > 0 else None for v in _clean(s.values, n)] for s in series]
    totals = [sum(vals[i] or 0.0 for vals in clean) for i in range(n)]
    if n == 0 or not any(t > 0 for t in totals):
        return _empty_frame(chart_id, title, empty_text, width, height)
    layout = _legend_layout([s.name for s in series], width) if len(series) > 1 else []
    rows = (max(r for r, _ in layout) + 1) if layout else 0
    counts = all(v.is_integer() for vals in clean for v in vals if v is not None)
    top, step = nice_scale(max(totals), integer=counts)
    frame = _Frame(width, height, n, 0.0, top, rows, step)
    description = "; ".join(
        f"{_label(x_labels, i)}: "
        + ", ".join(
            f"{s.name} {y_format(value)}"
            for s, vals in zip(series, clean, strict=True)
            if (value := vals[i]) is not None
        )
        for i in range(n)
        if totals[i] > 0
    )
    parts = _open(chart_id, frame, title, description, "bar")
    parts += _axes(frame, x_labels, y_label, x_label, y_format)
    bar_w = max(1.0, frame.slot * 0.7)
    stacked = [0.0] * n
    for index, (s, vals) in enumerate(zip(series, clean, strict=True)):
        colour = PALETTE[index % len(PALETTE)]
        parts.append(f'<g class="series series-{index}" data-series="{_esc(s.name)}">')
        for i, value in enumerate(vals):
            if value is None:
                continue
            y_top = frame.y(stacked[i] + value)
            y_base = frame.y(stacked[i])
            stacked[i] += value
            label = x_labels[i] if i < len(x_labels) else str(i)
            parts.append(
                f'<rect class="bar" x="{_n(frame.x(i) - bar_w / 2)}" y="{_n(y_top)}" width="{_n(bar_w)}" '
                f'height="{_n(max(0.0, y_base - y_top))}" fill="{colour}">'
                f"<title>{_esc(f'{s.name} · {label}: {y_format(value)}')}</title></rect>"
            )
        parts.append("</g>")
    if layout:
        parts += _legend(frame, [s.name for s in series], layout)
    parts.append("</svg>")
    return "\n".join(parts)
