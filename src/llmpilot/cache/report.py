"""HTML page of a calibration: paraphrase hit rate against false-hit rate as the threshold moves
(inline SVG, no plotting library, renders offline), with the fitted setting marked."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from llmpilot.cache.calibrate import Calibration

WIDTH, HEIGHT, PAD = 420, 340, 48
#: (curve key prefix, colour, dash) per part.
_PARTS = (("fit", "#3b6ea8", ""), ("holdout", "#d9534f", "5 3"))


def _path(points: Sequence[tuple[float, float]], x_max: float) -> str:
    inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    coords = [(PAD + min(x, x_max) / x_max * inner_w, PAD + inner_h - y * inner_h) for x, y in points]
    return " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(coords))


def curve_svg(calibration: Calibration, title: str = "Semantic cache: hits vs false hits") -> str:
    """False-hit rate (x) against paraphrase hit rate (y), one point per threshold; solid: fit part,
    dashed: held-out part; grey: the same threshold without verification; the dot: the fitted setting."""
    inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    rows: list[dict[str, float]] = calibration.curve + calibration.curve_threshold_only
    x_max = max([0.05, *(r[f"{p}_false_hit_rate"] for r in rows for p, _, _ in _PARTS)])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img">',
        f'<text x="{WIDTH / 2}" y="18" text-anchor="middle" font-size="13">{html.escape(title)}</text>',
        f'<rect x="{PAD}" y="{PAD}" width="{inner_w}" height="{inner_h}" fill="none" stroke="#999"/>',
    ]
    target_x = PAD + min(calibration.target_false_hit, x_max) / x_max * inner_w
    parts.append(
        f'<line x1="{target_x:.1f}" y1="{PAD}" x2="{target_x:.1f}" y2="{PAD + inner_h}" stroke="#5a9e6f" '
        f'stroke-dasharray="2 2"><title>target false-hit rate {calibration.target_false_hit:.3f}'
        "</title></line>"
    )
    for curve, colour_off in ((calibration.curve_threshold_only, "#aaa"), (calibration.curve, None)):
        for part, colour, dash in _PARTS:
            pts = [(r[f"{part}_false_hit_rate"], r[f"{part}_hit_rate"]) for r in curve]
            stroke = colour_off or colour
            label = part + (" (threshold only)" if colour_off else "")
            parts.append(
                f'<path d="{_path(pts, x_max)}" fill="none" stroke="{stroke}" stroke-width="1.6" '
                f'stroke-dasharray="{dash}"><title>{label}</title></path>'
            )
    for part, colour, _ in _PARTS:
        figures: dict[str, Any] = getattr(calibration, part)
        cx = PAD + min(figures["false_hit_rate"], x_max) / x_max * inner_w
        cy = PAD + inner_h - figures["paraphrase_hit_rate"] * inner_h
        parts.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="4.5" fill="{colour}"><title>{part}: threshold '
            f"{calibration.threshold:.3f}, hit {figures['paraphrase_hit_rate']:.3f}, false hit "
            f"{figures['false_hit_rate']:.3f}</title></circle>"
        )
    for tick in (0.0, 0.5, 1.0):
        parts.append(
            f'<text x="{PAD + tick * inner_w}" y="{HEIGHT - 22}" text-anchor="middle" font-size="10">'
            f"{tick * x_max:.3f}</text>"
        )
        parts.append(
            f'<text x="{PAD - 6}" y="{PAD + inner_h - tick * inner_h + 3}" text-anchor="end" '
            f'font-size="10">{tick:.1f}</text>'
        )
    parts.append(
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 6}" text-anchor="middle" font-size="10" fill="#555">'
        "false-hit rate (x) vs paraphrase hit rate (y); blue: fit, red dashed: held out, "
        "grey: no verification</text></svg>"
    )
    return "".join(parts)


def _table(calibration: Calibration) -> str:
    cells = ("part", "paraphrase hit", "false hit", "negative hit", "wrong hit")
    head = "<tr>" + "".join(f"<th>{c}</th>" for c in cells) + "</tr>"
    body = "".join(
        f"<tr><td>{part}</td>"
        + "".join(
            f"<td>{getattr(calibration, part)[k]:.3f}</td>"
            for k in ("paraphrase_hit_rate", "false_hit_rate", "negative_hit_rate", "wrong_hit_rate")
        )
        + "</tr>"
        for part, _, _ in _PARTS
    )
    return f"<table>{head}{body}</table>"


def curve_html(calibration: Calibration, title: str = "llmpilot cache calibration", extra: str = "") -> str:
    """A standalone page: the fitted settings, the figures on both parts and the curve."""
    settings = html.escape(repr(calibration.settings()))
    met = "met" if calibration.met_target else "NOT met (the setting with the fewest false hits is shown)"
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;margin:2em}}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p>Target false-hit rate {calibration.target_false_hit:.3f} on the fit part: {met}.</p>"
        f"<p>Settings: <code>{settings}</code></p>{_table(calibration)}"
        f"<p>{curve_svg(calibration)}</p>{extra}</body></html>"
    )
