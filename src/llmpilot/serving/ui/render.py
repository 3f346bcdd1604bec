"""The Jinja2 environment of the UI (autoescape always on) and the small filters its templates use."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

TEMPLATES_DIR = Path(__file__).parent / "templates"


def fmt_time(value: Any) -> str:
    """An API timestamp (epoch seconds or ISO text) as 'YYYY-MM-DD HH:MM:SS' (UTC when epoch)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        return parsed.strftime("%Y-%m-%d %H:%M:%S")
    return ""


def fmt_pct(value: Any) -> str:
    """A 0-1 confidence as a whole percentage; blank when missing."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return f"{round(max(0.0, min(1.0, float(value))) * 100)}%"
    return ""


def fmt_ms(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return f"{value:,.0f}" if value >= 10 else f"{value:.1f}"
    return "–"


def bar_width(value: Any, scale: float) -> float:
    """Share (0-100) of the widest bar on the page; bars are SVG rects so no inline style is needed."""
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or scale <= 0
    ):
        return 0.0
    return round(max(0.0, min(100.0, 100.0 * float(value) / scale)), 2)


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    # autoescape=True, not select_autoescape(): that one keys on the file extension and
    # would leave `.html.j2` templates unescaped.
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(fmt_time=fmt_time, fmt_pct=fmt_pct, fmt_ms=fmt_ms, bar_width=bar_width)
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
