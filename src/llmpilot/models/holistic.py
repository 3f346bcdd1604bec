"""The HELM-style holistic table: one row per model × scenario (benchmark) with accuracy, calibration,
robustness and efficiency side by side, and HELM's aggregate across scenarios, the mean win rate.

Input is what `llmpilot models bench --json` writes (one dict per benchmark). A scenario's headline
accuracy is the one the harness reports for its format: raw accuracy for lettered choices (MMLU),
length-normalised accuracy for continuations (HellaSwag), whose raw scores favour short endings.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from llmpilot.errors import LlmpilotError


@dataclass(frozen=True)
class HolisticRow:
    model: str
    scenario: str  # the benchmark's name
    #: Which accuracy is the headline: "accuracy" (letters) or "accuracy_norm" (continuation).
    metric: str
    n: int
    accuracy: float
    ci_low: float | None
    ci_high: float | None
    #: Expected calibration error of the choice probabilities (lower is better).
    ece: float | None
    #: Perturbation kind -> headline accuracy on the perturbed items.
    robustness: dict[str, float] = field(default_factory=dict)
    seconds_per_item: float | None = None
    tokens_per_s: float | None = None
    peak_rss_bytes: int | None = None
    model_bytes: int | None = None

    @property
    def robust_worst(self) -> float | None:
        """HELM's robustness: the worst accuracy over the perturbations (None without any)."""
        return min(self.robustness.values()) if self.robustness else None

    @property
    def robust_mean(self) -> float | None:
        return sum(self.robustness.values()) / len(self.robustness) if self.robustness else None

    @property
    def robust_drop(self) -> float | None:
        """How much accuracy the worst perturbation costs (clean minus worst)."""
        worst = self.robust_worst
        return None if worst is None else self.accuracy - worst

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "robust_worst": self.robust_worst,
            "robust_mean": self.robust_mean,
            "robust_drop": self.robust_drop,
        }


@dataclass(frozen=True)
class Column:
    """A column that HELM ranks models on: its value in a row and which direction is better."""

    name: str
    value: Callable[[HolisticRow], float | None]
    higher_is_better: bool


#: The four HELM aspects llmpilot measures, each ranked on one number per row.
COLUMNS: tuple[Column, ...] = (
    Column("accuracy", lambda r: r.accuracy, True),
    Column("calibration", lambda r: r.ece, False),
    Column("robustness", lambda r: r.robust_worst, True),
    Column("efficiency", lambda r: r.seconds_per_item, False),
)


def headline_metric(bench_format: str | None) -> str:
    return "accuracy_norm" if bench_format == "continuation" else "accuracy"


def _number(entry: Mapping[str, Any], key: str, where: str, required: bool = False) -> float | None:
    value = entry.get(key)
    if value is None:
        if required:
            raise LlmpilotError(f"{where}.{key}: missing; re-run `llmpilot models bench` to write it")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise LlmpilotError(f"{where}.{key}: {value!r} is not a finite number")
    return float(value)


def _row(scenario: str, bench_format: str | None, model: str, entry: Mapping[str, Any]) -> HolisticRow:
    where = f"{scenario}: models.{model}"
    if not isinstance(entry, Mapping):
        raise LlmpilotError(f"{where}: expected an object with the model's scores")
    metric = headline_metric(bench_format)
    # A bench without the normalised accuracy still has a headline: the raw one, said in `metric`.
    if entry.get(metric) is None and metric == "accuracy_norm":
        metric = "accuracy"
    accuracy = _number(entry, metric, where, required=True)
    assert accuracy is not None
    n = _number(entry, "n", where, required=True)
    ci = entry.get("ci_norm" if metric == "accuracy_norm" else "ci")
    low = high = None
    if isinstance(ci, Sequence) and not isinstance(ci, str) and len(ci) == 2:
        low, high = (float(x) for x in ci)
    robustness: dict[str, float] = {}
    for kind, scores in (entry.get("robustness") or {}).items():
        if not isinstance(scores, Mapping):
            raise LlmpilotError(f"{where}.robustness.{kind}: expected an object with accuracy and n")
        value = _number(scores, metric, f"{where}.robustness.{kind}")
        if value is None:
            value = _number(scores, "accuracy", f"{where}.robustness.{kind}", required=True)
        assert value is not None
        robustness[str(kind)] = value
    seconds = _number(entry, "seconds", where)
    peak = _number(entry, "peak_rss_bytes", where)
    size = _number(entry, "model_bytes", where)
    return HolisticRow(
        model=model,
        scenario=scenario,
        metric=metric,
        n=int(n or 0),
        accuracy=accuracy,
        ci_low=low,
        ci_high=high,
        ece=_number(entry, "calibration_ece", where),
        robustness=robustness,
        seconds_per_item=seconds / n if seconds is not None and n else None,
        tokens_per_s=_number(entry, "tokens_per_s", where),
        peak_rss_bytes=None if peak is None else int(peak),
        model_bytes=None if size is None else int(size),
    )


def holistic_rows(bench_jsons: Sequence[Mapping[str, Any]]) -> list[HolisticRow]:
    """One row per model × scenario, scenarios in the given order, models in each file's order."""
    rows: list[HolisticRow] = []
    for n, bench in enumerate(bench_jsons):
        scenario = bench.get("benchmark")
        if not isinstance(scenario, str) or not scenario:
            raise LlmpilotError(f"bench result {n + 1}: benchmark: missing; expected the benchmark's name")
        models = bench.get("models")
        if not isinstance(models, Mapping):
            raise LlmpilotError(f"{scenario}: models: missing; expected an object of model name -> scores")
        fmt = bench.get("format")
        rows.extend(_row(scenario, fmt if isinstance(fmt, str) else None, m, e) for m, e in models.items())
    return rows


def win_rates(values: Mapping[str, float], higher_is_better: bool) -> dict[str, float]:
    """HELM's win rate within one column: the share of the other models this one beats, a tie
    counting half. Empty when fewer than two models have a value (nobody to beat)."""
    if len(values) < 2:
        return {}
    out = {}
    for model, value in values.items():
        wins = sum(
            1.0 if (value > other if higher_is_better else value < other) else 0.5 if value == other else 0.0
            for name, other in values.items()
            if name != model
        )
        out[model] = wins / (len(values) - 1)
    return out


def mean_win_rates(
    rows: Sequence[HolisticRow], columns: Sequence[Column] = COLUMNS
) -> dict[str, dict[str, float | None]]:
    """model -> column -> the mean over scenarios of the model's win rate in that column (HELM's
    aggregate); None where the model has no value in any scenario that two models share."""
    per_model: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    by_scenario: dict[str, list[HolisticRow]] = defaultdict(list)
    for row in rows:
        by_scenario[row.scenario].append(row)
    for scenario_rows in by_scenario.values():
        for column in columns:
            values = {r.model: v for r in scenario_rows if (v := column.value(r)) is not None}
            for model, rate in win_rates(values, column.higher_is_better).items():
                per_model[model][column.name].append(rate)
    models = list(dict.fromkeys(r.model for r in rows))
    return {
        model: {c.name: (sum(rs) / len(rs) if (rs := per_model[model][c.name]) else None) for c in columns}
        for model in models
    }
