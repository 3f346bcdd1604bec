"""The model report (`llmpilot models report`): general benchmarks, the user's task metrics and latency
in one ranking, the HELM-style holistic table, a quality-vs-latency Pareto plot, and a
recommendation that states its trade-off.

The ranking follows HELM: within each column (a benchmark's accuracy, the eval-set metric, a pairwise
win rate, a latency) a model's win rate is the share of the other models it beats; columns are
averaged within their group (task, benchmarks, latency) and groups weighted. The user's own eval set
weighs twice as much as all general benchmarks together — it is the task they are choosing for.

The floor rule: the `extractive` answerer (no language model) is the floor; a generator is only
recommended when it beats the floor significantly on the user's eval set (paired bootstrap over the
same questions, p < 0.05). Without task metrics, the report says the recommendation rests on the
general benchmarks alone.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from jinja2 import Environment, PackageLoader, StrictUndefined

from llmpilot.evaluation.bootstrap import paired_bootstrap
from llmpilot.models.holistic import HolisticRow, holistic_rows, mean_win_rates, win_rates
from llmpilot.models.report_svg import Point, pareto_front, pareto_svg
from llmpilot.models.report_task import FLOOR, GeneratorScore, TaskMetrics, model_key, task_as_dict

#: Significance level of the floor rule and the trade-off tests.
ALPHA = 0.05
#: Default share of the ranking score that latency gets; quality (task + benchmarks) gets the rest.
LATENCY_WEIGHT = 0.25
#: Of the quality share, what the user's eval set (and pairwise on their questions) gets when present.
TASK_SHARE = 2 / 3

Basis = Literal["task", "benchmarks"]

_env = Environment(
    loader=PackageLoader("llmpilot.models", "templates"),
    autoescape=True,  # model names and file paths are user data
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class FloorTest:
    """A generator against the extractive floor on the same questions (model minus floor)."""

    mean_diff: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int

    @property
    def beats(self) -> bool:
        return self.mean_diff > 0 and self.p_value < ALPHA


@dataclass
class RankedModel:
    name: str
    rank: int = 0
    #: Weighted mean win rate (0-1) over the groups the model has values in.
    score: float = 0.0
    #: Group -> the model's mean win rate over that group's columns (None: no value in the group).
    groups: dict[str, float | None] = field(default_factory=dict)
    #: The eval-set metric's mean (None when the model was not run on the eval set).
    task: float | None = None
    #: Mean headline accuracy over the benchmarks the model ran.
    benchmark_accuracy: float | None = None
    #: Per answer on the eval set when measured there, else mean per benchmark item (ms).
    latency_ms: float | None = None
    floor: FloorTest | None = None
    #: "recommended", "eligible", "below floor", "not on your eval set", "floor", or "" (no task data).
    status: str = ""
    pareto: bool = False


@dataclass(frozen=True)
class Recommendation:
    model: str
    basis: Basis
    summary: str
    #: One sentence per alternative: what the recommended model gains or loses against it.
    tradeoffs: list[str]
    not_recommended: list[str]


@dataclass
class ModelReport:
    created: str
    rows: list[HolisticRow]
    win_rates: dict[str, dict[str, float | None]]
    pairwise: list[dict[str, Any]]
    task: TaskMetrics | None
    ranking: list[RankedModel]
    weights: dict[str, float]
    plot_points: list[Point]
    plot_basis: Basis
    plot_label: str
    recommendation: Recommendation
    notes: list[str]
    #: MTEB-style embedder results (`models bench --embedders --json`), shown as their own table.
    embedders: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "recommendation": asdict(self.recommendation),
            "ranking": [
                {
                    **asdict(r),
                    "floor": None if r.floor is None else {**asdict(r.floor), "beats": r.floor.beats},
                }
                for r in self.ranking
            ],
            "weights": self.weights,
            "pareto": {
                "basis": self.plot_basis,
                "quality": self.plot_label,
                "points": [asdict(p) for p in self.plot_points],
                "optimal": sorted(r.name for r in self.ranking if r.pareto),
            },
            "holistic": [r.as_dict() for r in self.rows],
            "mean_win_rates": self.win_rates,
            "pairwise": self.pairwise,
            "task": None if self.task is None else task_as_dict(self.task),
            "embedders": self.embedders,
            "notes": self.notes,
        }


# --- the ranking ---------------------------------------------------------------------------------


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _pairwise_values(pairwise: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Each model's mean win rate over the comparisons it took part in (as model_b: 1 - win_rate)."""
    seen: dict[str, list[float]] = defaultdict(list)
    for record in pairwise:
        if record.get("win_rate") is None:
            continue  # nothing was judged
        seen[record["model_a"]].append(float(record["win_rate"]))
        seen[record["model_b"]].append(1.0 - float(record["win_rate"]))
    return {name: sum(v) / len(v) for name, v in seen.items()}


def _columns(
    rows: Sequence[HolisticRow], pairwise: Sequence[dict[str, Any]], task: TaskMetrics | None
) -> list[tuple[str, str, dict[str, float], bool]]:
    """(group, column, model -> value, higher is better) for every ranked column."""
    columns: list[tuple[str, str, dict[str, float], bool]] = []
    if task is not None:
        columns.append(
            ("task", f"{task.metric} (your eval set)", {n: g.mean for n, g in task.generators.items()}, True)
        )
        latency = {n: g.latency_ms for n, g in task.generators.items() if g.latency_ms is not None}
        columns.append(("latency", "ms per answer (your eval set)", latency, False))
    if pairwise:
        columns.append(("task", "pairwise win rate (your questions)", _pairwise_values(pairwise), True))
    for scenario in dict.fromkeys(r.scenario for r in rows):
        in_scenario = [r for r in rows if r.scenario == scenario]
        columns.append(
            (
                "benchmarks",
                f"{scenario} {in_scenario[0].metric}",
                {r.model: r.accuracy for r in in_scenario},
                True,
            )
        )
        per_item = {r.model: r.seconds_per_item for r in in_scenario if r.seconds_per_item is not None}
        columns.append(("latency", f"{scenario} s per item", per_item, False))
    return columns


def _canonical(names: Sequence[str]) -> dict[str, str]:
    """One display name per model key (a bench's `models/x.gguf` and a study's `/abs/models/x.gguf`)."""
    out: dict[str, str] = {}
    for name in names:
        out.setdefault(model_key(name), name)
    return out


def rank_models(
    rows: Sequence[HolisticRow],
    pairwise: Sequence[dict[str, Any]],
    task: TaskMetrics | None,
    latency_weight: float = LATENCY_WEIGHT,
) -> tuple[list[RankedModel], dict[str, float]]:
    """The ranking (best first) and the group weights used."""
    columns = _columns(rows, pairwise, task)
    names = _canonical([name for _, _, values, _ in columns for name in values])
    quality = 1.0 - latency_weight
    has_task = any(group == "task" and values for group, _, values, _ in columns)
    weights = {
        "task": quality * TASK_SHARE if has_task else 0.0,
        "benchmarks": quality * (1 - TASK_SHARE) if has_task else quality,
        "latency": latency_weight,
    }
    per_group: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for group, _, values, higher in columns:
        keyed = {names[model_key(m)]: v for m, v in values.items()}
        for model, rate in win_rates(keyed, higher).items():
            per_group[model][group].append(rate)
    ranked = []
    for name in names.values():
        groups = {g: _mean(per_group[name][g]) for g in weights}
        present = {g: v for g, v in groups.items() if v is not None and weights[g] > 0}
        total = sum(weights[g] for g in present)
        score = sum(weights[g] * v for g, v in present.items()) / total if total else 0.0
        ranked.append(RankedModel(name=name, score=score, groups=groups))
    _fill_measures(ranked, rows, task)
    ranked.sort(key=lambda r: (-r.score, r.name))
    for n, r in enumerate(ranked, start=1):
        r.rank = n
    return ranked, weights


def _fill_measures(ranked: list[RankedModel], rows: Sequence[HolisticRow], task: TaskMetrics | None) -> None:
    by_key = {model_key(r.name): r for r in ranked}
    accuracies: dict[str, list[float]] = defaultdict(list)
    seconds: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        accuracies[model_key(row.model)].append(row.accuracy)
        if row.seconds_per_item is not None:
            seconds[model_key(row.model)].append(row.seconds_per_item * 1000)
    for key, r in by_key.items():
        r.benchmark_accuracy = _mean(accuracies[key])
        r.latency_ms = _mean(seconds[key])
    if task is None:
        return
    floor = task.floor
    for name, score in task.generators.items():
        r = by_key[model_key(name)]
        r.task = score.mean
        if score.latency_ms is not None:
            r.latency_ms = score.latency_ms
        if name == FLOOR:
            r.status = "floor"
        elif floor is not None:
            r.floor = floor_test(score, floor)
            r.status = "eligible" if r.floor.beats else "below floor"
        else:
            r.status = "eligible"
    for r in ranked:
        if not r.status:
            r.status = "not on your eval set"


def _paired(a: GeneratorScore, b: GeneratorScore) -> dict[str, float] | None:
    """a minus b on the questions both answered; None when they share none."""
    shared = sorted(set(a.per_query) & set(b.per_query))
    if not shared:
        return None
    stats = paired_bootstrap([a.per_query[q] for q in shared], [b.per_query[q] for q in shared])
    return {**stats, "n": len(shared)}


def floor_test(score: GeneratorScore, floor: GeneratorScore) -> FloorTest:
    stats = _paired(score, floor)
    if stats is None:  # nothing to compare on: cannot be shown to beat it
        return FloorTest(0.0, 0.0, 0.0, 1.0, 0)
    return FloorTest(stats["mean_diff"], stats["ci_low"], stats["ci_high"], stats["p_value"], int(stats["n"]))


# --- the recommendation --------------------------------------------------------------------------


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _times(a: float | None, b: float | None) -> str:
    """ "at 3.1x the latency" of a relative to b."""
    if a is None or b is None:
        return "(latency not measured for both)"
    if b <= 0:
        return f"at {a:.3g} ms against no measurable latency"
    ratio = a / b
    return f"at {ratio:.0f}x the latency" if ratio >= 10 else f"at {ratio:.1f}x the latency"


def _tradeoff(a: RankedModel, b: RankedModel, basis: Basis, task: TaskMetrics | None, label: str) -> str:
    if basis == "task" and task is not None:
        ga, gb = task.generators.get(_task_name(task, a.name)), task.generators.get(_task_name(task, b.name))
        assert ga is not None and gb is not None
        stats = _paired(ga, gb)
        diff = ga.mean - gb.mean
        test = "" if stats is None else f" ({_p(stats['p_value'])}, n = {int(stats['n'])})"
        return f"{a.name}: {diff:+.3f} {label} over {b.name} {_times(a.latency_ms, b.latency_ms)}{test}"
    assert a.benchmark_accuracy is not None and b.benchmark_accuracy is not None
    diff = a.benchmark_accuracy - b.benchmark_accuracy
    return f"{a.name}: {diff:+.3f} {label} over {b.name} {_times(a.latency_ms, b.latency_ms)}"


def _task_name(task: TaskMetrics, name: str) -> str:
    for candidate in task.generators:
        if model_key(candidate) == model_key(name):
            return candidate
    return name


def recommend(
    ranking: Sequence[RankedModel], task: TaskMetrics | None, scenarios: Sequence[str]
) -> Recommendation:
    """Pick the best-ranked model that the evidence allows and say what it trades against the others."""
    if task is not None and any(r.task is not None for r in ranking):
        return _recommend_on_task(ranking, task)
    label = f"mean accuracy on {', '.join(scenarios)}" if scenarios else "mean accuracy"
    candidates = [r for r in ranking if r.benchmark_accuracy is not None]
    if not candidates:
        return Recommendation("", "benchmarks", "No model has results to rank: give --bench or -p.", [], [])
    best = candidates[0]
    summary = (
        f"{best.name}: ranked first on the general benchmarks ({label} {best.benchmark_accuracy:.3f}). "
        "This recommendation rests on general benchmarks only: no eval results of yours were found, so the "
        "extractive floor could not be checked — run `llmpilot optimize` (varying generator, with "
        "`name: extractive` among them) and pass its folder with -p."
    )
    tradeoffs = [_tradeoff(best, other, "benchmarks", None, label) for other in candidates[1:]]
    return Recommendation(best.name, "benchmarks", summary, tradeoffs, [])


def _recommend_on_task(ranking: Sequence[RankedModel], task: TaskMetrics) -> Recommendation:
    label = f"{task.metric} on your eval set"
    floor_row = next((r for r in ranking if r.name == FLOOR), None)
    tested = [r for r in ranking if r.task is not None and r.name != FLOOR]
    eligible = [r for r in tested if r.status == "eligible"]
    not_recommended = [
        f"{r.name}: did not beat the extractive floor significantly on your eval set "
        f"({r.floor.mean_diff:+.3f} {task.metric}, {_p(r.floor.p_value)}, n = {r.floor.n})"
        for r in tested
        if r.floor is not None and not r.floor.beats
    ]
    not_recommended += [
        f"{r.name}: not run on your eval set, so it cannot be shown to beat the extractive floor; add it "
        "to the generators of `llmpilot optimize` to make it eligible"
        for r in ranking
        if r.status == "not on your eval set"
    ]
    if floor_row is None:
        best = eligible[0]
        summary = (
            f"{best.name}: ranked first ({task.metric} {best.task:.3f} on your eval set). The extractive "
            "floor is not among your eval results, so whether a language model is needed at all was not "
            "checked: add `name: extractive` to the generators of `llmpilot optimize`."
        )
        tradeoffs = [_tradeoff(best, other, "task", task, label) for other in eligible[1:]]
        return Recommendation(best.name, "task", summary, tradeoffs, not_recommended)
    if not eligible:
        summary = (
            f"Use the extractive answerer (no language model): no generator beat it significantly on your "
            f"eval set ({task.metric}, paired bootstrap, p < {ALPHA}). It quotes the sources and needs no "
            "model."
            if tested
            else "Use the extractive answerer: it is the only answerer measured on your eval set."
        )
        tradeoffs = [_tradeoff(r, floor_row, "task", task, label) for r in tested]
        return Recommendation(FLOOR, "task", summary, tradeoffs, not_recommended)
    best = eligible[0]
    assert best.floor is not None and best.task is not None
    summary = (
        f"{best.name}: {task.metric} {best.task:.3f} on your eval set, {best.floor.mean_diff:+.3f} over the "
        f"extractive floor ({_p(best.floor.p_value)}, n = {best.floor.n}); ranked first of the "
        f"{len(eligible)} model(s) that beat the floor."
    )
    tradeoffs = [_tradeoff(best, other, "task", task, label) for other in [*eligible[1:], floor_row]]
    return Recommendation(best.name, "task", summary, tradeoffs, not_recommended)


# --- the report ----------------------------------------------------------------------------------


def _plot(
    ranking: Sequence[RankedModel], rows: Sequence[HolisticRow], task: TaskMetrics | None
) -> tuple[list[Point], Basis, str]:
    """Quality against latency on one footing: the eval set when there is one, else the models that ran
    every benchmark (a mean over different benchmarks would not compare)."""
    if task is not None and any(r.task is not None for r in ranking):
        points = [
            Point(r.name, r.latency_ms, r.task)
            for r in ranking
            if r.task is not None and r.latency_ms is not None
        ]
        return points, "task", f"{task.metric} on your eval set"
    scenarios = set(r.scenario for r in rows)
    ran: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        ran[model_key(row.model)].add(row.scenario)
    points = [
        Point(r.name, r.latency_ms, r.benchmark_accuracy)
        for r in ranking
        if r.latency_ms is not None
        and r.benchmark_accuracy is not None
        and ran[model_key(r.name)] == scenarios
    ]
    return points, "benchmarks", "mean accuracy over " + ", ".join(sorted(scenarios))


def build_report(
    bench: list[dict[str, Any]],
    pairwise: list[dict[str, Any]],
    task: TaskMetrics | None,
    latency_weight: float = LATENCY_WEIGHT,
    embedders: Sequence[dict[str, Any]] = (),
) -> ModelReport:
    """Everything the page and report.json show, from bench results, pairwise results and the user's
    task metrics (any of them may be empty)."""
    rows = holistic_rows(bench)
    ranking, weights = rank_models(rows, pairwise, task, latency_weight)
    points, basis, label = _plot(ranking, rows, task)
    front = pareto_front(points)
    for r in ranking:
        r.pareto = r.name in front
    scenarios = list(dict.fromkeys(r.scenario for r in rows))
    rec = recommend(ranking, task, scenarios)
    for r in ranking:
        if r.name == rec.model:
            r.status = "recommended"
    notes = list(task.notes) if task is not None else []
    notes += [
        f"pairwise {p['model_a']} vs {p['model_b']}: no question was judged, so it is not ranked"
        for p in pairwise
        if p.get("win_rate") is None
    ]
    if task is None:
        notes.append("No task metrics: the recommendation rests on general benchmarks only.")
    elif task.floor is None:
        notes.append("The extractive floor is not in your eval results: the floor rule could not be applied.")
    return ModelReport(
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        rows=rows,
        win_rates=mean_win_rates(rows),
        pairwise=list(pairwise),
        task=task,
        ranking=ranking,
        weights=weights,
        plot_points=points,
        plot_basis=basis,
        plot_label=label,
        recommendation=rec,
        notes=notes,
        embedders=list(embedders),
    )


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _mb(value: int | None) -> str:
    return "–" if value is None else f"{value / 1e6:,.0f}"


def render_html(report: ModelReport) -> str:
    floor = report.task.floor.mean if report.task is not None and report.task.floor is not None else None
    svg = pareto_svg(
        report.plot_points,
        {r.name for r in report.ranking if r.pareto},
        f"Quality vs latency ({'your eval set' if report.plot_basis == 'task' else 'general benchmarks'})",
        report.plot_label,
        floor if report.plot_basis == "task" else None,
    )
    kinds = list(dict.fromkeys(k for r in report.rows for k in r.robustness))
    return _env.get_template("report.html.j2").render(
        r=report,
        rec=report.recommendation,
        svg=svg,  # built from escaped parts in report_svg
        kinds=kinds,
        scenarios=list(dict.fromkeys(row.scenario for row in report.rows)),
        fmt=_fmt,
        mb=_mb,
        p=_p,
    )


def write_report(report: ModelReport, out_dir: Path) -> Path:
    """report.html and report.json in out_dir; returns the HTML's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(
        json.dumps(report.as_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    page = out_dir / "report.html"
    page.write_text(render_html(report), encoding="utf-8")
    return page
