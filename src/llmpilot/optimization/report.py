"""report.html for an optimization (or one-config evaluation) run.

One self-contained file that renders offline: plotly's JS is inlined once, nothing is fetched.
Input is the study's `StudyResult` (or a results.json dict, validated into one); every string from
it goes through jinja2's autoescape in the page and html.escape in chart labels, because query
texts, snippets and parameter values are user data and may contain markup.
"""

from __future__ import annotations

import html
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from llmpilot.errors import LlmpilotError
from llmpilot.extras import requires_extra
from llmpilot.optimization.results import StudyResult, TrialRef, TrialResult

with requires_extra("eval", "The evaluation report (report.html)"):
    import plotly.graph_objects as go
    from plotly.offline import get_plotlyjs

TOP_N = 15  # trials in the CI chart
# Korean must render: the CJK fonts Debian/macOS/Windows ship, then generic fallbacks.
FONT_STACK = (
    '"Noto Sans CJK KR", "Noto Sans KR", "NanumGothic", "Nanum Gothic", "Apple SD Gothic Neo", '
    '"Malgun Gothic", system-ui, -apple-system, "Segoe UI", sans-serif'
)
BEST_COLOR, CHEAP_COLOR, OTHER_COLOR = "#1a7f37", "#bf8700", "#3b6fb6"
MISSING = "–"
NOT_USED = "(not used)"  # a key the config does not depend on, e.g. fusion weight in keyword mode

# autoescape=True explicitly: select_autoescape() would not match the ".html.j2" suffix.
_env = Environment(
    loader=PackageLoader("llmpilot.optimization", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class ParamKey:
    key: str  # full dotted key, e.g. "retrieval.fusion.weight"
    short: str  # shortest unique dotted suffix, e.g. "weight"


def fmt(value: Any, digits: int = 4) -> str:
    """A number for display; missing or non-finite values show as a dash, never as 'nan'."""
    if value is None or isinstance(value, bool):
        return MISSING if value is None else str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{number:.{digits}f}" if math.isfinite(number) else MISSING


def param_keys(params: Iterable[Mapping[str, Any]]) -> list[ParamKey]:
    """The varied keys in first-seen order, each with the shortest dotted suffix that is unique."""
    keys: list[str] = []
    for trial_params in params:
        keys.extend(k for k in trial_params if k not in keys)
    out = []
    for key in keys:
        parts = key.split(".")
        for n in range(1, len(parts) + 1):
            short = ".".join(parts[-n:])
            if sum(1 for other in keys if other == short or other.endswith("." + short)) == 1:
                break
        out.append(ParamKey(key, short))
    return out


def value_text(value: Any) -> str:
    if value is None:
        return MISSING
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def label(params: dict[str, Any], keys: list[ParamKey]) -> str:
    """A trial's varied parameters as one plain-text line (escape it before use in markup)."""
    shown = [f"{k.short}={value_text(params[k.key])}" for k in keys if k.key in params]
    return ", ".join(shown) if shown else "(single config)"


def values_line(params: dict[str, Any], keys: list[ParamKey]) -> str:
    """Just the values, in column order: a compact chart label that the leaderboard headers explain."""
    shown = [value_text(params[k.key]) for k in keys if k.key in params]
    return " · ".join(shown) if shown else "single config"


def _mean(trial: TrialResult, metric: str) -> float:
    return trial.metrics[metric].mean


def _natural(value: str) -> tuple[int, float, str]:
    """Numbers in numeric order, then text, then "(not used)": chunk sizes read 200, 400, 1000."""
    if value == NOT_USED:
        return (2, 0.0, value)
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


def _rank_key(trial: TrialResult, metric: str) -> tuple[float, float, str]:
    return (-_mean(trial, metric), trial.latency_ms_p50, trial.trial_id)


def _final_trials(trials: list[TrialResult], metric: str) -> list[TrialResult]:
    """Complete trials, one per trial_id, ranked by the primary metric then latency."""
    by_id: dict[str, TrialResult] = {}
    for trial in trials:
        if trial.complete and metric in trial.metrics:
            by_id[trial.trial_id] = trial
    return sorted(by_id.values(), key=lambda t: _rank_key(t, metric))


def _stopped_early(trials: list[TrialResult], final_ids: set[str], metric: str) -> list[TrialResult]:
    """Trials that never reached all queries (halving dropped them), at the last rung each reached."""
    last: dict[str, TrialResult] = {}
    for trial in trials:
        tid = trial.trial_id
        if tid in final_ids or trial.complete or metric not in trial.metrics:
            continue
        if tid not in last or trial.n_queries >= last[tid].n_queries:
            last[tid] = trial
    return sorted(last.values(), key=lambda t: (-t.n_queries, -_mean(t, metric), t.trial_id))


def comparable_population(
    trials: list[TrialResult], final: list[TrialResult], metric: str
) -> tuple[list[TrialResult], int]:
    """The most configs scored on the same queries, and how many queries that was.

    Grid, random and greedy score every config on all queries: that is `final`. Halving leaves only
    a few complete configs, but its first rung scored every config on the same query prefix, so
    per-parameter effects and the latency trade-off are drawn from there. Ties go to more queries.
    """
    by_n: dict[int, dict[str, TrialResult]] = defaultdict(dict)
    for trial in trials:
        if metric in trial.metrics:
            by_n[trial.n_queries][trial.trial_id] = trial
    n_all = final[0].n_queries
    widest = max(by_n, key=lambda n: (len(by_n[n]), n))
    if len(by_n[widest]) <= len(final):
        return final, n_all
    ranked = sorted(by_n[widest].values(), key=lambda t: _rank_key(t, metric))
    return ranked, widest


# ---------------------------------------------------------------- charts


def _fig_html(fig: go.Figure, height: int) -> str:
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 20, "t": 48, "b": 10},
        template="plotly_white",
        font={"family": FONT_STACK, "size": 12},
        title={"x": 0.01, "font": {"size": 15}},
    )
    # No plotly logo link; the JS itself is inlined once in <head>, so nothing is fetched.
    config = {"displaylogo": False, "responsive": True}
    out: str = fig.to_html(full_html=False, include_plotlyjs=False, config=config)
    return out


def _color(trial: TrialResult, best_id: str, cheap_id: str | None) -> str:
    if trial.trial_id == best_id:
        return BEST_COLOR
    return CHEAP_COLOR if trial.trial_id == cheap_id else OTHER_COLOR


def ci_chart(
    final: list[TrialResult], metric: str, keys: list[ParamKey], best_id: str, cheap_id: str | None
) -> str:
    """The top configs as points with their 95% CI as error bars, best on top."""
    top = final[:TOP_N]
    ys = [html.escape(f"#{i + 1}  {values_line(t.params, keys)}") for i, t in enumerate(top)]
    means = [_mean(t, metric) for t in top]
    cis = [t.metrics[metric] for t in top]
    labels = [html.escape(label(t.params, keys)) for t in top]
    fig = go.Figure(
        go.Scatter(
            x=means,
            y=ys,
            mode="markers",
            marker={"size": 11, "color": [_color(t, best_id, cheap_id) for t in top]},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [c.ci_high - m for c, m in zip(cis, means, strict=True)],
                "arrayminus": [m - c.ci_low for c, m in zip(cis, means, strict=True)],
                "thickness": 2,
                "width": 6,
                "color": "#57606a",
            },
            text=labels,
            customdata=[[c.ci_low, c.ci_high] for c in cis],
            hovertemplate="%{text}<br>%{x:.4f} [%{customdata[0]:.4f}, %{customdata[1]:.4f}]<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", type="category", title=None, automargin=True)
    fig.update_xaxes(title=f"{metric} (mean, 95% bootstrap CI)")
    return _fig_html(fig, height=110 + 30 * len(top))


def effect_charts(
    final: list[TrialResult], metric: str, keys: list[ParamKey], y_title: str
) -> list[tuple[str, str]]:
    """Per varied parameter: the primary metric of comparable trials grouped by its value."""
    charts = []
    for key in keys:
        groups: dict[str, list[float]] = defaultdict(list)
        for trial in final:
            value = trial.params.get(key.key)
            groups[NOT_USED if value is None else value_text(value)].append(_mean(trial, metric))
        if len(groups) < 2:
            continue  # nothing to compare: every complete trial used the same value
        fig = go.Figure(
            [
                go.Box(
                    y=groups[name],
                    name=html.escape(f"{name} (n={len(groups[name])})"),
                    boxpoints="all",
                    jitter=0.4,
                    pointpos=0,
                    marker={"color": OTHER_COLOR, "size": 7, "opacity": 0.75},
                    line={"color": "#57606a"},
                    fillcolor="rgba(59,111,182,0.12)",
                    hovertemplate=f"{html.escape(key.short)}=%{{x}}<br>%{{y:.4f}}<extra></extra>",
                )
                for name in sorted(groups, key=_natural)
            ]
        )
        fig.update_layout(title={"text": html.escape(key.key)}, showlegend=False)
        fig.update_xaxes(type="category")  # values like 400/800 are categories, not a numeric axis
        fig.update_yaxes(title=y_title)
        charts.append((key.key, _fig_html(fig, height=330)))
    return charts


def _pareto(final: list[TrialResult], metric: str) -> list[TrialResult]:
    """Configs no other config beats on both latency and quality, in latency order."""
    front, best_so_far = [], -math.inf
    for trial in sorted(final, key=lambda t: (t.latency_ms_p50, -_mean(t, metric))):
        if _mean(trial, metric) > best_so_far:
            front.append(trial)
            best_so_far = _mean(trial, metric)
    return front


def tradeoff_chart(
    final: list[TrialResult],
    metric: str,
    keys: list[ParamKey],
    best_id: str,
    cheap_id: str | None,
    y_title: str,
) -> str:
    front = _pareto(final, metric)
    fig = go.Figure(
        [
            go.Scatter(
                x=[t.latency_ms_p50 for t in front],
                y=[_mean(t, metric) for t in front],
                mode="lines",
                line={"color": "#8c959f", "dash": "dot", "shape": "hv"},
                name="Pareto front",
                hoverinfo="skip",
            ),
            go.Scatter(
                x=[t.latency_ms_p50 for t in final],
                y=[_mean(t, metric) for t in final],
                mode="markers",
                name="configs",
                marker={
                    "size": [14 if t.trial_id in (best_id, cheap_id) else 9 for t in final],
                    "color": [_color(t, best_id, cheap_id) for t in final],
                    "line": {"width": 1, "color": "white"},
                },
                text=[f"#{i + 1} {html.escape(label(t.params, keys))}" for i, t in enumerate(final)],
                hovertemplate="%{text}<br>%{x:.1f} ms, %{y:.4f}<extra></extra>",
            ),
        ]
    )
    latencies = [t.latency_ms_p50 for t in final]
    # Keyword-only and hybrid configs differ by 100x in latency: a log axis keeps both readable.
    log = bool(latencies) and min(latencies) > 0 and max(latencies) / min(latencies) > 20
    fig.update_xaxes(
        title="query latency p50 (ms)" + (", log scale" if log else ""), type="log" if log else "-"
    )
    fig.update_yaxes(title=y_title)
    fig.update_layout(showlegend=False)
    by_id = {t.trial_id: t for t in final}
    notes = [(best_id, "best", BEST_COLOR, -28)]
    if cheap_id and cheap_id != best_id:  # below its point: the cheap config usually sits under the best
        notes.append((cheap_id, "cheapest not worse", CHEAP_COLOR, 28))
    for tid, text, color, ay in notes:
        if tid not in by_id:
            continue
        trial = by_id[tid]
        x = trial.latency_ms_p50
        fig.add_annotation(
            x=math.log10(x) if log else x,
            y=_mean(trial, metric),
            text=text,
            font={"color": color, "size": 12},
            showarrow=True,
            arrowcolor=color,
            ax=0,
            ay=ay,
        )
    return _fig_html(fig, height=400)


# ---------------------------------------------------------------- page


def _find(final: list[TrialResult], ref: TrialRef | None) -> TrialResult | None:
    if ref is None:
        return None
    return next((t for t in final if t.trial_id == ref.trial_id), None)


def _study(results: StudyResult | Mapping[str, Any]) -> StudyResult:
    """A results.json dict (e.g. one read from disk) is validated into the model first."""
    return results if isinstance(results, StudyResult) else StudyResult.from_dict(results)


def build_html(results: StudyResult | Mapping[str, Any]) -> str:
    study = _study(results)
    metric = study.primary_metric
    trials = study.trials
    final = _final_trials(trials, metric)
    if not final:
        raise LlmpilotError(
            f"results: no trial has complete=true with a '{metric}' metric; "
            "the report needs at least one config scored on all queries"
        )
    best = _find(final, study.best) or final[0]
    runner_up = _find(final, study.runner_up)
    cheap_ref = study.cheapest_not_worse
    cheap = _find(final, cheap_ref)
    cheap_id = cheap.trial_id if cheap else None
    keys = param_keys(t.params for t in trials)
    other_metrics = [m for m in best.metrics if m != metric]
    stopped = _stopped_early(trials, {t.trial_id for t in final}, metric)
    population, population_n = comparable_population(trials, final, metric)
    y_title = metric if population is final else f"{metric} on the first {population_n} queries"
    # One config has nothing to trade off: the chart would be a lone dot on an arbitrary axis.
    tradeoff = (
        tradeoff_chart(population, metric, keys, best.trial_id, cheap_id, y_title)
        if len(population) > 1
        else ""
    )
    return _env.get_template("report.html.j2").render(
        r=study,
        metric=metric,
        compute=study.compute,
        best=best,
        runner_up=runner_up,
        sig=study.significance,
        cheap=cheap,
        cheap_ref=cheap_ref,
        final=final,
        stopped=stopped,
        keys=keys,
        other_metrics=other_metrics,
        worst=study.worst_queries,
        value_text=value_text,
        fmt=fmt,
        font_stack=FONT_STACK,
        plotlyjs=get_plotlyjs(),
        ci_chart=ci_chart(final, metric, keys, best.trial_id, cheap_id),
        effect_charts=effect_charts(population, metric, keys, y_title),
        population=population,
        population_n=population_n,
        population_is_final=population is final,
        tradeoff_chart=tradeoff,
        config_json=json.dumps(best.config.model_dump(mode="json"), ensure_ascii=False, indent=2),
    )


def render_report(results: StudyResult | Mapping[str, Any], out: Path) -> Path:
    """Write report.html for a study (or a results.json dict) to `out`; returns `out`."""
    page = build_html(results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
