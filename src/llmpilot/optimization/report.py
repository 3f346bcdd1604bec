"""report.html for an optimization or evaluation run: self-contained (plotly inlined), offline."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from jinja2 import Environment, PackageLoader, select_autoescape
from plotly.offline import get_plotlyjs

TOP_N = 15
_env = Environment(loader=PackageLoader("llmpilot.optimization", "templates"), autoescape=select_autoescape())


def _label(params: dict[str, Any]) -> str:
    if not params:
        return "(config)"
    return ", ".join(f"{k.split('.')[-1]}={v}" for k, v in params.items())


def _fig_html(fig: go.Figure) -> str:
    fig.update_layout(
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        template="plotly_white",
        font={"family": "Noto Sans CJK KR, Noto Sans KR, NanumGothic, Apple SD Gothic Neo, sans-serif"},
    )
    html: str = fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})
    return html


def _ci_chart(trials: list[dict[str, Any]], metric: str) -> str:
    top = trials[:TOP_N][::-1]
    means = [t["metrics"][metric]["mean"] for t in top]
    fig = go.Figure(
        go.Bar(
            x=means,
            y=[f"#{len(top) - i} {_label(t['params'])}" for i, t in enumerate(top)],
            orientation="h",
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [t["metrics"][metric]["ci_high"] - m for t, m in zip(top, means, strict=True)],
                "arrayminus": [m - t["metrics"][metric]["ci_low"] for t, m in zip(top, means, strict=True)],
            },
            marker_color="#3b6fb6",
        )
    )
    low = min(t["metrics"][metric]["ci_low"] for t in top)
    fig.update_layout(
        title=f"Top {len(top)} configs: {metric} with 95% bootstrap CI",
        height=120 + 28 * len(top),
        xaxis={"range": [max(0.0, low - 0.05), 1.0]},
    )
    return _fig_html(fig)


def _effect_charts(trials: list[dict[str, Any]], metric: str) -> list[str]:
    keys = sorted({k for t in trials for k in t["params"]})
    charts = []
    for key in keys:
        groups: dict[str, list[float]] = defaultdict(list)
        for t in trials:
            groups[str(t["params"].get(key))].append(t["metrics"][metric]["mean"])
        if len(groups) < 2:
            continue
        fig = go.Figure([go.Box(y=v, name=k, boxpoints="all", jitter=0.3) for k, v in groups.items()])
        fig.update_layout(title=f"{key}: effect on {metric}", height=320, showlegend=False)
        charts.append(_fig_html(fig))
    return charts


def _tradeoff_chart(trials: list[dict[str, Any]], metric: str) -> str:
    fig = go.Figure(
        go.Scatter(
            x=[t["latency_ms_p50"] for t in trials],
            y=[t["metrics"][metric]["mean"] for t in trials],
            mode="markers",
            text=[_label(t["params"]) for t in trials],
            hovertemplate="%{text}<br>%{x:.1f} ms, %{y:.4f}<extra></extra>",
            marker={"size": 10, "color": "#d9822b"},
        )
    )
    fig.update_layout(
        title="Quality vs query latency (p50 ms)", xaxis_title="ms", yaxis_title=metric, height=360
    )
    return _fig_html(fig)


def render_report(results: dict[str, Any], out: Path) -> Path:
    metric = results["primary_metric"]
    complete = [t for t in results["trials"] if t.get("complete")]
    complete.sort(key=lambda t: (-t["metrics"][metric]["mean"], t["latency_ms_p50"]))
    partial = [t for t in results["trials"] if not t.get("complete")]
    best = next(t for t in complete if t["trial_id"] == results["best"]["trial_id"])
    cheap = results.get("cheapest_not_worse")
    cheap_trial = next((t for t in complete if cheap and t["trial_id"] == cheap["trial_id"]), None)
    other_metrics = [m for m in best["metrics"] if m != metric]
    html = _env.get_template("report.html.j2").render(
        r=results,
        metric=metric,
        best=best,
        cheap=cheap,
        cheap_trial=cheap_trial,
        complete=complete,
        partial_count=len(partial),
        other_metrics=other_metrics,
        label=_label,
        plotlyjs=get_plotlyjs(),
        ci_chart=_ci_chart(complete, metric),
        effect_charts=_effect_charts(complete, metric) if len(complete) > 1 else [],
        tradeoff_chart=_tradeoff_chart(complete, metric),
        config_json=json.dumps(best["config"], ensure_ascii=False, indent=2),
    )
    out.write_text(html, encoding="utf-8")
    return out
