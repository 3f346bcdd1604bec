"""The user's task metrics for the model report: per-generator answer scores on their own eval set,
read from what `llmpilot eval --out` and `llmpilot optimize --out` leave behind (results.json, a
`StudyResult`).

Only answer metrics count: retrieval metrics do not depend on the generator. When a study tried a
generator under several retrieval configs, the generator's best complete trial stands for it (the
config a user would pick for that model); per-question values are kept for the paired tests
against the extractive floor.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmpilot.config import GeneratorConfig
from llmpilot.errors import LlmpilotError
from llmpilot.evaluation.bootstrap import bootstrap_ci
from llmpilot.evaluation.metric_names import SENTENCE_METRICS
from llmpilot.generation.models import DEFAULT_LOCAL_MODEL
from llmpilot.optimization.results import StudyResult, TrialResult

#: The answerer without a language model (generation/extractive.py): the floor every model must beat.
FLOOR = "extractive"
RESULTS_NAME = "results.json"
#: Folders a project keeps that never hold eval results (and can be large).
_SKIP_DIRS = {"indexes", "node_modules", "__pycache__", "site-packages"}


@dataclass(frozen=True)
class GeneratorScore:
    name: str  # as in `llmpilot models bench --models` (generator_label)
    metric: str
    mean: float
    ci_low: float
    ci_high: float
    #: Query id -> the metric's value for that question.
    per_query: dict[str, float]
    #: Median generation time per answer (ms); end-to-end latency when generation was not timed.
    latency_ms: float | None
    trial_id: str
    source: str  # the results.json it came from

    @property
    def n(self) -> int:
        return len(self.per_query)


@dataclass(frozen=True)
class TaskMetrics:
    dataset: str
    metric: str
    generators: dict[str, GeneratorScore]
    sources: tuple[str, ...]
    #: What was skipped or chosen while reading, for the report's notes.
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def floor(self) -> GeneratorScore | None:
        return self.generators.get(FLOOR)


def generator_label(cfg: GeneratorConfig) -> str:
    """The name a generator goes by in the report, matching `--models` names of `models bench`: the
    catalog name, a GGUF path, an endpoint's model, or the registered name."""
    if cfg.name == FLOOR:
        return FLOOR
    if cfg.name == "llama-cpp":
        return cfg.model_path or cfg.model or DEFAULT_LOCAL_MODEL
    if cfg.name == "transformers" and cfg.adapter:
        return f"{cfg.model_path or cfg.model or DEFAULT_LOCAL_MODEL}+{Path(cfg.adapter).name}"
    return cfg.model or cfg.model_path or cfg.name


def model_key(name: str) -> str:
    """Names that denote the same model compare equal: a path by its file stem (bench may be given a
    relative path, a results.json holds it resolved against the project)."""
    if "/" in name or "\\" in name or name.lower().endswith(".gguf"):
        return Path(name).stem.lower()
    return name.lower()


def find_results(path: Path) -> list[Path]:
    """results.json files: the file itself, or those under a project folder (hidden folders, the
    indexes and virtual environments skipped)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise LlmpilotError(f"{path}: no such project folder or results.json (the -p/--project option)")
    found = []
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS and d != "venv")
        if RESULTS_NAME in files:
            found.append(Path(root) / RESULTS_NAME)
    return found


def _answer_metrics(study: StudyResult) -> list[str]:
    """The study's answer metrics, its primary metric first."""
    names = [study.primary_metric, *study.settings.answer_metrics]
    present = {m for t in study.trials for m in t.per_query}
    return [m for m in dict.fromkeys(names) if m in SENTENCE_METRICS and m in present]


def _best_trials(study: StudyResult, metric: str) -> dict[str, TrialResult]:
    """Each generator's best complete trial on the metric (ties: the faster)."""
    complete = [t for t in study.trials if t.per_query.get(metric)]
    if not complete:
        return {}
    widest = max(t.n_queries for t in complete)
    best: dict[str, TrialResult] = {}
    for trial in complete:
        if trial.n_queries != widest:
            continue  # a halving rung's subset: not comparable with the full-set trials
        name = generator_label(trial.config.generator)
        held = best.get(name)
        if held is None or (trial.mean(metric), -_latency(trial)) > (held.mean(metric), -_latency(held)):
            best[name] = trial
    return best


def _latency(trial: TrialResult) -> float:
    return trial.generation_ms_p50 if trial.generation_ms_p50 is not None else trial.latency_ms_p50


def _score(name: str, trial: TrialResult, metric: str, source: str) -> GeneratorScore:
    values = {str(q): float(v) for q, v in trial.per_query[metric].items()}
    known = trial.metrics.get(metric)
    if known is not None:
        mean, low, high = known.mean, known.ci_low, known.ci_high
    else:
        mean, low, high = bootstrap_ci(list(values.values()))
    return GeneratorScore(name, metric, mean, low, high, values, _latency(trial), trial.trial_id, source)


def task_metrics_from(studies: Sequence[tuple[str, StudyResult]]) -> TaskMetrics | None:
    """Combine studies on one dataset. None when none of them scored answers."""
    scored = [(src, s, _answer_metrics(s)) for src, s in studies]
    scored = [(src, s, metrics) for src, s, metrics in scored if metrics]
    if not scored:
        return None
    datasets = sorted({s.dataset for _, s, _ in scored})
    if len(datasets) > 1:
        listing = "; ".join(
            f"{d}: {', '.join(src for src, s, _ in scored if s.dataset == d)}" for d in datasets
        )
        raise LlmpilotError(
            f"answer results for several datasets ({listing}); pass -p the results.json (or the --out "
            "folder) of the dataset the report should rank on"
        )
    newest = max(scored, key=lambda entry: entry[1].created)
    shared = [m for m in newest[2] if all(m in metrics for _, _, metrics in scored)]
    if not shared:
        raise LlmpilotError(
            "the eval results score answers on different metrics ("
            + "; ".join(f"{src}: {', '.join(m)}" for src, _, m in scored)
            + "); re-run them with a shared --answer-metrics or pass -p one results.json"
        )
    metric = shared[0]
    generators: dict[str, GeneratorScore] = {}
    for src, study, _ in sorted(scored, key=lambda entry: entry[1].created):
        for name, trial in _best_trials(study, metric).items():
            score = _score(name, trial, metric, src)
            held = generators.get(name)
            # A later or larger evaluation of the same generator replaces an earlier one.
            if held is None or score.n >= held.n:
                generators[name] = score
    notes = []
    if len(scored) > 1:
        notes.append(f"task metrics combined from {len(scored)} results files on dataset {datasets[0]}")
    return TaskMetrics(datasets[0], metric, generators, tuple(src for src, _, _ in scored), tuple(notes))


def load_task_metrics(path: Path) -> TaskMetrics | None:
    """Task metrics from a project folder, an `eval`/`optimize` --out folder, or a results.json.
    A file given directly must be a study's results.json; files found while scanning a folder that
    are something else (another command's results.json) are skipped and noted."""
    files = find_results(path)
    studies: list[tuple[str, StudyResult]] = []
    skipped: list[str] = []
    for file in files:
        try:
            studies.append((str(file), StudyResult.load(file)))
        except LlmpilotError:
            if path.is_file():
                raise
            skipped.append(str(file))
        except OSError as exc:
            raise LlmpilotError(f"{file}: cannot be read ({exc.strerror})") from None
    task = task_metrics_from(studies)
    if task is None:
        return None
    notes = list(task.notes)
    if skipped:
        notes.append(f"skipped results.json files of other commands: {', '.join(skipped)}")
    return TaskMetrics(task.dataset, task.metric, task.generators, task.sources, tuple(notes))


def task_as_dict(task: TaskMetrics) -> dict[str, Any]:
    return {
        "dataset": task.dataset,
        "metric": task.metric,
        "sources": list(task.sources),
        "notes": list(task.notes),
        "generators": {
            name: {
                "mean": g.mean,
                "ci": [g.ci_low, g.ci_high],
                "n": g.n,
                "latency_ms": g.latency_ms,
                "trial_id": g.trial_id,
                "source": g.source,
            }
            for name, g in task.generators.items()
        },
    }
