"""What an optimization produces, as pydantic models: one trial (`TrialResult`) and one study
(`StudyResult`, written as results.json by `model_dump_json`). The same models travel from the
search through the store (resume), results.json, the report and the CLI summary.

Field names are those of the results.json files and trial rows written before these models
existed, so those files still load (fields added since have defaults)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llmpilot.config import PipelineConfig
from llmpilot.errors import LlmpilotError
from llmpilot.optimization.settings import SearchSettings


class _Model(BaseModel):
    # NaN/inf written as JSON constants (as json.dumps did) so they read back as floats, not null.
    model_config = ConfigDict(ser_json_inf_nan="constants")


class MetricValue(_Model):
    """A metric's mean over a trial's queries with its 95% bootstrap CI."""

    mean: float
    ci_low: float
    ci_high: float
    n: int


class TrialResult(_Model):
    """One config scored on a set of queries (a halving rung's subset, or all of them)."""

    trial_id: str
    config: PipelineConfig
    params: dict[str, Any] = Field(default_factory=dict)
    n_queries: int
    #: metric -> query id -> score.
    per_query: dict[str, dict[str, float]]
    #: End to end per query: retrieval p50, plus generation p50 when answers are evaluated.
    latency_ms_p50: float
    seconds: float
    passages_embedded: int = 0
    rung: int = 0
    complete: bool = False
    #: Query id -> generated answer (answer-evaluating trials only).
    answers: dict[str, str] = Field(default_factory=dict)
    generation_ms_p50: float | None = None
    #: Documents in the corpus the trial was scored on (fewer than the dataset's on a sample).
    corpus_docs: int | None = None
    #: Passages (chunks) in the index the trial searched.
    passages: int | None = None
    #: metric -> mean with CI; filled when the study's results are assembled (not in the store).
    metrics: dict[str, MetricValue] = Field(default_factory=dict)
    #: Where this result came from in this process ({"resumed": True}, {"worker": "ray"}); not saved.
    extra: dict[str, Any] = Field(default_factory=dict, exclude=True)

    def mean(self, metric: str) -> float:
        values = list(self.per_query[metric].values())
        return float(np.mean(values)) if values else 0.0


class TrialRef(_Model):
    trial_id: str


class BestRef(TrialRef):
    """The selected config: its complete trial is (trial_id, n_queries)."""

    n_queries: int
    params: dict[str, Any] = Field(default_factory=dict)


class Significance(_Model):
    """Paired bootstrap test of the best config against another on the same queries."""

    metric: str
    mean_diff: float
    ci_low: float
    ci_high: float
    p_value: float
    significant: bool


class CheapestRef(TrialRef):
    latency_ms_p50: float
    #: Paired test against the best (1.0 when the best is itself the cheapest).
    p_value: float | None = None


class Compute(_Model):
    """The whole study's work (resumed trials included) and what this process did itself."""

    trials_evaluated: int = 0
    query_evaluations: int = 0
    trial_seconds: float = 0.0
    passages_embedded: int = 0
    queries_embedded: int = 0
    answers_generated: int = 0
    this_run: dict[str, int] = Field(default_factory=dict)


class RetrievedDoc(_Model):
    rank: int
    doc_id: str
    title: str = ""
    snippet: str
    score: float
    relevant: bool


class WorstQuery(_Model):
    """A low-scoring query of the best config, with what it retrieved."""

    query_id: str
    text: str
    score: float
    relevant: list[str]
    retrieved: list[RetrievedDoc] = Field(default_factory=list)
    doc_ranking_top10: list[str] = Field(default_factory=list)
    #: Answer-evaluating studies: what the best config said, next to the reference.
    answer: str | None = None
    reference: str | None = None


class StudyResult(_Model):
    """results.json: every trial, the selection with its evidence, and the worst queries."""

    dataset: str
    dataset_dir: Path
    space_file: Path
    strategy: str
    settings: SearchSettings
    primary_metric: str
    created: datetime
    seconds: float
    compute: Compute
    #: Configs in the search space (after canonicalization).
    candidates: int
    trials: list[TrialResult]
    best: BestRef
    runner_up: TrialRef | None = None
    significance: Significance | None = None
    cheapest_not_worse: CheapestRef | None = None
    worst_queries: list[WorstQuery] = Field(default_factory=list)

    def best_trial(self) -> TrialResult:
        """The best config's complete (all-queries) trial."""
        for trial in self.trials:
            if trial.trial_id == self.best.trial_id and trial.n_queries == self.best.n_queries:
                return trial
        raise ValueError(f"results: the best trial {self.best.trial_id} is not among the trials")

    @classmethod
    def load(cls, path: Path) -> StudyResult:
        """Read a results.json (also one written before these models existed)."""
        try:
            return cls.model_validate_json(Path(path).read_bytes())
        except ValidationError as exc:
            raise _not_results(str(path), exc) from None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "results") -> StudyResult:
        """A results.json dict, validated; `source` names it in the error."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise _not_results(source, exc) from None

    def write(self, path: Path) -> Path:
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
        return path


def _not_results(source: str, exc: ValidationError) -> LlmpilotError:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "(top level)"
    return LlmpilotError(
        f"{source}: not a results.json of `llmpilot optimize` ({where}: {first['msg']}; "
        f"{exc.error_count()} problem(s)); re-run the optimization to write it again"
    )
