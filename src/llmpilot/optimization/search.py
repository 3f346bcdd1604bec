"""Search strategies over a SearchSpace: grid, random, successive halving, and greedy
stage-by-stage (AutoRAG's way, for comparison). Every trial result is saved in the store as it
finishes, so a killed optimization resumes where it stopped."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select

from llmpilot.config import stable_hash
from llmpilot.errors import ConfigError
from llmpilot.evaluation.datasets import Query
from llmpilot.optimization.evaluate import Evaluator
from llmpilot.optimization.results import TrialResult
from llmpilot.optimization.sampling import sample_corpus
from llmpilot.optimization.settings import STRATEGIES, SearchSettings
from llmpilot.optimization.space import Candidate, SearchSpace
from llmpilot.progress import Reporter, Task
from llmpilot.store import schema


class TrialLog:
    """Trial results of one study, in the store."""

    def __init__(self, evaluator: Evaluator, study_id: str) -> None:
        self.store = evaluator.store
        self.study_id = study_id

    def clear(self) -> None:
        with self.store.transaction() as conn:
            conn.execute(delete(schema.trials).where(schema.trials.c.study_id == self.study_id))

    def get(self, trial_id: str, n_queries: int) -> TrialResult | None:
        """A saved trial (rows written before TrialResult was a model load the same way)."""
        with self.store.engine.connect() as conn:
            row = conn.execute(
                select(schema.trials.c.result_json).where(
                    schema.trials.c.study_id == self.study_id,
                    schema.trials.c.trial_id == trial_id,
                    schema.trials.c.n_queries == n_queries,
                )
            ).first()
        if row is None:
            return None
        result = TrialResult.model_validate_json(row[0])
        result.extra = {"resumed": True}
        return result

    def put(self, result: TrialResult) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                insert(schema.trials).values(
                    study_id=self.study_id,
                    trial_id=result.trial_id,
                    n_queries=result.n_queries,
                    rung=result.rung,
                    # Aggregates are computed when the study is assembled, not stored per trial.
                    result_json=result.model_dump_json(exclude={"metrics"}),
                    created_at=datetime.now(UTC),
                )
            )


#: Runs a batch of (candidate, queries, rung) and returns the results in the same order.
BatchRunner = Callable[[Sequence[tuple[Candidate, Sequence[Query], int]]], list[TrialResult]]
#: Makes a study's batch runner from its evaluator (e.g. Ray actors); no factory: in process.
RunnerFactory = Callable[[Evaluator], BatchRunner]


class Search:
    def __init__(
        self,
        space: SearchSpace,
        evaluator: Evaluator,
        settings: SearchSettings,
        *,
        runner: BatchRunner | None = None,
        progress: bool = False,
        resume: bool = True,
    ) -> None:
        if settings.strategy not in STRATEGIES:
            raise ConfigError(f"unknown strategy {settings.strategy!r}; use one of {', '.join(STRATEGIES)}")
        self.space = space
        self.evaluator = evaluator
        self.settings = settings
        self.candidates = space.candidates()
        self.queries = list(evaluator.dataset.queries)
        # A fixed shuffle: halving's small rungs must be a fair sample, and the same on resume.
        random.Random(settings.seed).shuffle(self.queries)
        if settings.max_queries is not None:
            self.queries = self.queries[: max(1, settings.max_queries)]
        self.study_id = stable_hash(
            {
                "dataset": evaluator.dataset.name,
                "corpus": evaluator._unit.fingerprint,
                "candidates": [c.trial_id for c in self.candidates],
                "queries": [q.id for q in self.queries],
                "settings": settings.__dict__,
            }
        )
        self.log = TrialLog(evaluator, self.study_id)
        if not resume:
            self.log.clear()
        self.runner = runner or self._run_in_process
        self.reporter = Reporter(progress)
        self.results: list[TrialResult] = []
        self._task: Task | None = None

    # --- execution --------------------------------------------------------------------------

    def _run_in_process(self, batch: Sequence[tuple[Candidate, Sequence[Query], int]]) -> list[TrialResult]:
        return self._in_process(self.evaluator)(batch)

    @staticmethod
    def _in_process(evaluator: Evaluator) -> BatchRunner:
        def run(batch: Sequence[tuple[Candidate, Sequence[Query], int]]) -> list[TrialResult]:
            out = []
            for candidate, queries, rung in batch:
                result = evaluator.evaluate(
                    candidate.config, queries, trial_id=candidate.trial_id, params=candidate.params
                )
                result.rung = rung
                out.append(result)
            return out

        return run

    def _evaluate(
        self,
        candidates: Sequence[Candidate],
        n_queries: int,
        rung: int,
        evaluator: Evaluator | None = None,
    ) -> list[TrialResult]:
        """Evaluate on the first n_queries; `evaluator` (a corpus sample's) runs in process."""
        queries = self.queries[:n_queries]
        runner = self.runner
        if evaluator is None:
            evaluator = self.evaluator
        else:
            runner = self._in_process(evaluator)
        done: dict[str, TrialResult] = {}
        todo = []
        for c in candidates:
            saved = self.log.get(c.trial_id, n_queries)
            if saved is not None:
                done[c.trial_id] = saved
            else:
                todo.append(c)
        if self._task is not None:
            self._task.advance(len(done))
        # Artifacts (chunks, embeddings, indexes) are built here, serially, before any fan-out:
        # parallel workers then only read them.
        for c in todo:
            evaluator.prepare(c.config)
        for i in range(0, len(todo), 8):
            part = todo[i : i + 8]
            for result in runner([(c, queries, rung) for c in part]):
                result.complete = n_queries == len(self.queries)
                self.log.put(result)
                done[result.trial_id] = result
                if self._task is not None:
                    self._task.advance()
        results = [done[c.trial_id] for c in candidates]
        self.results.extend(results)
        return results

    def _top(self, results: Sequence[TrialResult], k: int) -> list[str]:
        metric = self.settings.primary_metric
        ranked = sorted(results, key=lambda r: (-r.mean(metric), r.latency_ms_p50, r.trial_id))
        return [r.trial_id for r in ranked[:k]]

    # --- strategies ---------------------------------------------------------------------------

    def run(self) -> list[TrialResult]:
        with self.reporter.session():
            self._task = self.reporter.task(f"{self.settings.strategy} search", total=self._planned())
            getattr(self, f"_{self.settings.strategy}")()
        return self.results

    def _planned(self) -> int:
        n = len(self.candidates)
        s = self.settings
        if s.strategy == "random":
            return min(n, s.budget or max(1, n // 3))
        if s.strategy == "halving":
            total, alive = 0, n
            for _ in self._rungs():
                total += alive
                alive = max(1, math.ceil(alive / s.eta))
            return total
        if s.strategy == "greedy":
            return sum(len(v) for v in self.space.varied.values())
        return n

    def _grid(self) -> None:
        self._evaluate(self.candidates, len(self.queries), 0)

    def _random(self) -> None:
        n = min(len(self.candidates), self.settings.budget or max(1, len(self.candidates) // 3))
        picked = random.Random(self.settings.seed).sample(self.candidates, n)
        self._evaluate(picked, len(self.queries), 0)

    def _rungs(self) -> list[int]:
        """Query subset sizes, growing eta-fold up to all queries."""
        total = len(self.queries)
        n = min(total, max(self.settings.min_queries, 1))
        sizes = [n]
        while sizes[-1] < total:
            sizes.append(min(total, sizes[-1] * self.settings.eta))
        return sizes

    def _halving(self) -> None:
        alive = list(self.candidates)
        total = len(self.queries)
        for rung, n_queries in enumerate(self._rungs()):
            if self.settings.sample_corpus and n_queries < total:
                sampled = self._sampled_evaluator(n_queries)
                try:
                    results = self._evaluate(alive, n_queries, rung, sampled)
                finally:
                    sampled.close()
            else:
                results = self._evaluate(alive, n_queries, rung)
            if n_queries == total:
                break
            keep = set(self._top(results, max(1, math.ceil(len(alive) / self.settings.eta))))
            alive = [c for c in alive if c.trial_id in keep]

    def _sampled_evaluator(self, n_queries: int) -> Evaluator:
        """An evaluator over a corpus sample sized like the rung's query share (its own work store;
        compute is counted on the study's meter)."""
        base = self.evaluator
        # sqrt of the query share: a sample as small as the query share is so easy (few
        # distractors) that most configs tie at the top and the tie-break, not quality, decides.
        fraction = math.sqrt(n_queries / len(self.queries))
        sample = sample_corpus(base.dataset, self.queries[:n_queries], fraction, self.settings.seed)
        return Evaluator(
            sample.dataset,
            base.dataset_dir,
            base.root.parent,
            depth=base.depth,
            progress=base.progress,
            meter=base.meter,
            answer_metrics=base.answer_metrics,
            corpus_fingerprint=sample.fingerprint,
            shared_cache=base.store,
        )

    def _greedy(self) -> None:
        """Vary one parameter at a time in pipeline order, fixing each to its best value."""
        by_key = {c.trial_id: c for c in self.candidates}
        chosen = {k: v[0] for k, v in self.space.varied.items()}
        for key, values in self.space.varied.items():
            stage: list[Candidate] = []
            for value in values:
                params = {**chosen, key: value}
                match = self._find(params)
                if match is not None and match.trial_id not in {c.trial_id for c in stage}:
                    stage.append(match)
            results = self._evaluate(stage, len(self.queries), 0)
            chosen[key] = by_key[self._top(results, 1)[0]].params.get(key, chosen[key])

    def _find(self, params: dict[str, Any]) -> Candidate | None:
        # Canonicalizing maps settings a config ignores onto the candidate that stands for it.
        trial_id = self.space.config_for(params).hash()
        return next((c for c in self.candidates if c.trial_id == trial_id), None)
