"""report.html of `llmpilot strategies`: one self-contained page (inline SVG, no scripts, no network)
with the quality bars and their 95% CIs, the paired tests, cost, complexity, the recommendation with
its reason, and a few answers side by side."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

_GREEN = "#5a9e6f"
_GREY = "#9aa5b1"


def bars_svg(
    values: Mapping[str, float],
    title: str,
    *,
    ci: Mapping[str, Sequence[float]] | None = None,
    maximum: float | None = None,
    highlight: str | None = None,
    unit: str = "",
    label_w: int = 110,
) -> str:
    """Horizontal bars (house style of benchmarks/answers_report.py), with a CI whisker per bar when
    `ci` has one; `highlight` is drawn green, the rest grey. `maximum` None: the largest value or CI end."""
    row, bar_w = 20, 300
    ends = [v for v in values.values()] + [float(b[1]) for b in (ci or {}).values() if len(b) == 2]
    top = maximum if maximum is not None else max([e for e in ends if e > 0] or [1.0])
    height = 30 + row * len(values)

    def x(value: float) -> float:
        return label_w + bar_w * min(1.0, max(0.0, value) / top) if top else float(label_w)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 110}" height="{height}" '
        'role="img">',
        f'<text x="4" y="16" font-size="13">{html.escape(title)}</text>',
    ]
    for i, (label, value) in enumerate(values.items()):
        y = 26 + i * row
        colour = _GREEN if label == highlight else _GREY
        name = html.escape(label)
        parts.append(f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end" font-size="11">{name}</text>')
        parts.append(
            f'<rect x="{label_w}" y="{y + 2}" width="{x(value) - label_w:.1f}" height="{row - 6}" '
            f'fill="{colour}"/>'
        )
        right = x(value)
        bounds = (ci or {}).get(label)
        if bounds is not None and len(bounds) == 2:
            lo, hi = x(float(bounds[0])), x(float(bounds[1]))
            mid = y + 2 + (row - 6) / 2
            parts.append(
                f'<line x1="{lo:.1f}" y1="{mid:.1f}" x2="{hi:.1f}" y2="{mid:.1f}" stroke="#333" '
                'stroke-width="1.2"/>'
                f'<line x1="{lo:.1f}" y1="{mid - 4:.1f}" x2="{lo:.1f}" y2="{mid + 4:.1f}" stroke="#333"/>'
                f'<line x1="{hi:.1f}" y1="{mid - 4:.1f}" x2="{hi:.1f}" y2="{mid + 4:.1f}" stroke="#333"/>'
            )
            right = max(right, hi)
        parts.append(
            f'<text x="{right + 5:.1f}" y="{y + 12}" font-size="11">{value:.3f}{html.escape(unit)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value)
    return "—" if value is None else str(value)


def render_report(results: Mapping[str, Any], examples: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """Write the page to `path` and return it."""
    strategies: Mapping[str, Any] = results["strategies"]
    metric = results["primary_metric"]
    pick = results["recommended"]
    names = list(strategies)
    metric_names = sorted(
        {m for s in strategies.values() for m in s["metrics"]}, key=lambda m: (m != metric, m)
    )
    charts = [
        bars_svg(
            {n: strategies[n]["metrics"][m] for n in names if m in strategies[n]["metrics"]},
            f"{m} (mean, 95% bootstrap CI)",
            ci={n: strategies[n]["ci"].get(m, []) for n in names},
            highlight=pick,
        )
        for m in metric_names
    ]
    charts.append(
        bars_svg(
            {n: strategies[n]["cost"]["seconds_per_answer"] for n in names},
            "seconds per answer",
            highlight=pick,
            unit=" s",
        )
    )
    charts.append(
        bars_svg(
            {n: strategies[n]["cost"]["train_seconds"] for n in names},
            "training seconds",
            highlight=pick,
            unit=" s",
        )
    )

    def shown_ci(name: str, m: str) -> str:
        entry = strategies[name]
        if m not in entry["metrics"]:
            return "—"
        lo, hi = entry["ci"][m]
        return f"{entry['metrics'][m]:.4f} [{lo:.4f}, {hi:.4f}]"

    quality = _table(
        ["strategy", *metric_names], [[n] + [shown_ci(n, m) for m in metric_names] for n in names]
    )
    paired = _table(
        ["comparison", "metric", "diff (a − b)", "95% CI", "p"],
        [
            [k, v["metric"], v["diff"], v.get("ci"), _p(v["p_value"])]
            for k, v in results.get("paired", {}).items()
        ],
    )
    cost_keys = sorted({k for s in strategies.values() for k in s["cost"]})
    cost = _table(
        ["strategy", *cost_keys], [[n] + [strategies[n]["cost"].get(k) for k in cost_keys] for n in names]
    )
    complexity = _table(
        ["strategy", "moving parts", "labeled rows", "corpus documents", "re-training"],
        [
            [
                n,
                f"{c['n_moving_parts']}: " + ", ".join(c["moving_parts"]),
                c["data_needed"]["labeled_rows"],
                c["data_needed"]["corpus_documents"],
                c["retraining"],
            ]
            for n, c in ((n, strategies[n]["complexity"]) for n in names)
        ],
    )
    tuning = strategies.get("prompt", {}).get("prompt_tuning")
    tuning_html = ""
    if tuning:
        tuning_html = "<h2>Prompt tuning (validation items)</h2>" + _table(
            ["variant", f"{tuning['metric']} on {tuning['val_items']} validation items", "picked"],
            [
                [v, d["val_score"], "yes" if v == tuning["picked"] else ""]
                for v, d in tuning["variants"].items()
            ],
        )
    shown = "".join(
        f"<h3>{html.escape(str(e['id']))}</h3><p class='input'>{html.escape(_clip(e['input'], 600))}</p>"
        + _table(["", "text"], [["reference", e["reference"]], *[[n, a] for n, a in e["answers"].items()]])
        for e in examples
    )
    n = results.get("n", {})
    dataset = html.escape(str(results.get("dataset")))
    base = html.escape(str(results.get("settings", {}).get("base")))
    rag = html.escape(str(results.get("rag_definition", "")))
    reason = html.escape(str(results.get("recommendation_reason", "")))
    seed = results.get("split", {}).get("seed")
    quality_charts = "".join(charts[: len(metric_names)])
    cost_charts = "".join(charts[len(metric_names) :])
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>llmpilot strategies: {dataset}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse;margin:.5em 0 1.5em}}
td,th{{border:1px solid #ccc;padding:3px 7px;font-size:13px;vertical-align:top;text-align:left}}
.pick{{background:#eef7f0;padding:.6em 1em;border-left:4px solid {_GREEN}}}
.input{{color:#555;font-size:13px}}svg{{display:block;margin:.5em 0}}</style></head><body>
<h1>Strategy comparison: {html.escape(str(results.get("task")))} on {dataset}</h1>
<p>Same base model ({base}), greedy decoding, same answer budget; {n.get("test", "?")} test items,
{n.get("train", "?")} train, {n.get("val", "?")} validation (seed {seed}). RAG here: {rag}.</p>
<p class="pick"><b>Recommended: {html.escape(str(pick))}</b> — {reason}</p>
<h2>Quality</h2>{quality_charts}{quality}
<h2>Paired tests on {html.escape(metric)}</h2>{paired}
<h2>Cost</h2>{cost_charts}{cost}
<p>peak_memory_mb: the process's peak resident memory while the strategy trained or answered; disk_mb: adapter
folder plus index; prompt_tokens_per_answer: the first prompt's tokens (a strict retry is not counted).</p>
<h2>Complexity</h2>{complexity}
{tuning_html}
<h2>Examples</h2>{shown}
</body></html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def _p(value: float) -> str:
    """A bootstrap p of 0 means no resample crossed zero: below the test's resolution, not zero."""
    return "< 0.001" if value <= 0 else f"{value:.3g}"


def _clip(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
