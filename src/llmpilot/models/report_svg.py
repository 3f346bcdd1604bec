"""The quality-vs-latency Pareto plot of the model report, as inline SVG (no plotting library, renders
offline; the house style of benchmarks/answers_report.py). Model names are user data: escaped."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

WIDTH, HEIGHT, PAD_L, PAD_R, PAD_T, PAD_B = 640, 400, 64, 150, 36, 52
PARETO_COLOR, OTHER_COLOR, FLOOR_COLOR = "#1a7f37", "#3b6ea8", "#9a6700"


@dataclass(frozen=True)
class Point:
    name: str
    latency_ms: float  # x: lower is better
    quality: float  # y: higher is better


def pareto_front(points: Sequence[Point]) -> set[str]:
    """The models no other model beats on both axes (as fast or faster AND as good or better, and
    strictly one of them)."""
    front = set()
    for p in points:
        dominated = any(
            q.latency_ms <= p.latency_ms
            and q.quality >= p.quality
            and (q.latency_ms < p.latency_ms or q.quality > p.quality)
            for q in points
        )
        if not dominated:
            front.add(p.name)
    return front


def _fmt_ms(ms: float) -> str:
    return f"{ms / 1000:.3g} s" if ms >= 1000 else f"{ms:.3g} ms"


def pareto_svg(
    points: Sequence[Point], front: set[str], title: str, y_label: str, floor: float | None = None
) -> str:
    """Latency on x (log scale when it spans more than 20x, as small and 7B models do), quality on y;
    Pareto-optimal models in green joined by their frontier, the floor as a dashed line."""
    inner_w, inner_h = WIDTH - PAD_L - PAD_R, HEIGHT - PAD_T - PAD_B
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'class="pareto"><title>{html.escape(title)}</title>',
        f'<text x="{PAD_L + inner_w / 2}" y="20" text-anchor="middle" font-size="13">'
        f"{html.escape(title)}</text>",
        f'<rect x="{PAD_L}" y="{PAD_T}" width="{inner_w}" height="{inner_h}" fill="none" stroke="#999"/>',
    ]
    if not points:
        parts.append(
            f'<text x="{PAD_L + inner_w / 2}" y="{PAD_T + inner_h / 2}" text-anchor="middle" '
            'font-size="12" fill="#555">no model has both a quality and a latency</text></svg>'
        )
        return "".join(parts)
    xs = [max(p.latency_ms, 1e-3) for p in points]
    ys = [p.quality for p in points] + ([floor] if floor is not None else [])
    log = max(xs) / min(xs) > 20
    tx = (lambda v: math.log10(max(v, 1e-3))) if log else (lambda v: v)
    x_lo, x_hi = tx(min(xs)), tx(max(xs))
    x_pad = (x_hi - x_lo) * 0.08 or (abs(x_hi) * 0.1 or 1.0)
    x_lo, x_hi = x_lo - x_pad, x_hi + x_pad
    y_lo, y_hi = min(ys), max(ys)
    y_pad = (y_hi - y_lo) * 0.1 or 0.05
    y_lo, y_hi = max(0.0, y_lo - y_pad), min(1.0, y_hi + y_pad) if y_hi <= 1.0 else y_hi + y_pad

    def sx(v: float) -> float:
        return PAD_L + (tx(max(v, 1e-3)) - x_lo) / (x_hi - x_lo) * inner_w

    def sy(v: float) -> float:
        return PAD_T + inner_h - (v - y_lo) / ((y_hi - y_lo) or 1.0) * inner_h

    digits = 3 if y_hi - y_lo < 0.1 else 2  # close scores need a third decimal to tell ticks apart
    for i in range(5):  # axis ticks
        xv = x_lo + (x_hi - x_lo) * i / 4
        ms = 10**xv if log else xv
        px = PAD_L + inner_w * i / 4
        parts.append(
            f'<text x="{px:.1f}" y="{PAD_T + inner_h + 16}" text-anchor="middle" font-size="10">'
            f"{html.escape(_fmt_ms(ms))}</text>"
        )
        yv = y_lo + (y_hi - y_lo) * i / 4
        parts.append(
            f'<text x="{PAD_L - 6}" y="{sy(yv) + 3:.1f}" text-anchor="end" font-size="10">'
            f"{yv:.{digits}f}</text>"
        )
    parts.append(
        f'<text x="{PAD_L + inner_w / 2}" y="{HEIGHT - 12}" text-anchor="middle" font-size="11" fill="#555">'
        f"latency per answer or item{' (log scale)' if log else ''} — left is faster</text>"
    )
    parts.append(
        f'<text x="14" y="{PAD_T + inner_h / 2}" text-anchor="middle" font-size="11" fill="#555" '
        f'transform="rotate(-90 14 {PAD_T + inner_h / 2})">{html.escape(y_label)} — up is better</text>'
    )
    if floor is not None:
        fy = sy(floor)
        parts.append(
            f'<line x1="{PAD_L}" y1="{fy:.1f}" x2="{PAD_L + inner_w}" y2="{fy:.1f}" stroke="{FLOOR_COLOR}" '
            'stroke-dasharray="5 4"/>'
            f'<text x="{PAD_L + inner_w + 4}" y="{fy + 3:.1f}" font-size="10" fill="{FLOOR_COLOR}">'
            "extractive floor</text>"
        )
    frontier = sorted((p for p in points if p.name in front), key=lambda p: p.latency_ms)
    if len(frontier) > 1:
        path = " ".join(f"{sx(p.latency_ms):.1f},{sy(p.quality):.1f}" for p in frontier)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{PARETO_COLOR}" stroke-width="1.5"/>')
    for p in points:
        on_front = p.name in front
        color = PARETO_COLOR if on_front else OTHER_COLOR
        cx, cy = sx(p.latency_ms), sy(p.quality)
        label = html.escape(p.name)
        parts.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{6 if on_front else 4}" fill="{color}" '
            f'class="{"pareto-optimal" if on_front else "dominated"}"><title>{label}: {p.quality:.3f} at '
            f"{html.escape(_fmt_ms(p.latency_ms))}{' (Pareto-optimal)' if on_front else ''}</title></circle>"
            f'<text x="{cx + 8:.1f}" y="{cy + 4:.1f}" font-size="11" fill="{color}">{label}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
