"""Trials on a Ray cluster: a local one (`--workers N`) or an existing one (`--ray-address`).

The driver builds every artifact (chunks, embeddings, indexes) before fanning out, so workers only
read them from the shared work folder; each worker keeps its own Evaluator (and loaded indexes)
for all the trials it runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llmpilot.evaluation.datasets import Query, load_dataset
from llmpilot.extras import requires_extra
from llmpilot.optimization.evaluate import Evaluator
from llmpilot.optimization.results import TrialResult
from llmpilot.optimization.search import BatchRunner, RunnerFactory
from llmpilot.optimization.space import Candidate


def _ray() -> Any:
    with requires_extra("optimize", "Running trials on Ray (--workers, --ray-address)"):
        import ray
    return ray


class _Worker:
    """Body of the Ray actor: one Evaluator per worker process."""

    def __init__(self, dataset_dir: str, workdir: str, answer_metrics: tuple[str, ...]) -> None:
        folder = Path(dataset_dir)
        self.evaluator = Evaluator(
            load_dataset(folder), folder, Path(workdir), read_only=True, answer_metrics=answer_metrics
        )

    def run(
        self, config_json: dict[str, Any], trial_id: str, params: dict[str, Any], query_ids: list[str]
    ) -> dict:
        from llmpilot.config import PipelineConfig

        by_id = {q.id: q for q in self.evaluator.dataset.queries}
        result = self.evaluator.evaluate(
            PipelineConfig.model_validate(config_json),
            [by_id[q] for q in query_ids],
            trial_id=trial_id,
            params=params,
        )
        return result.model_dump(mode="json")


def ray_runner(
    evaluator: Evaluator, *, workers: int | None = None, address: str | None = None
) -> BatchRunner:
    ray = _ray()
    if not ray.is_initialized():
        if address:
            ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    n_workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    actor_cls = ray.remote(num_cpus=1)(_Worker)
    actors = [
        actor_cls.remote(
            str(evaluator.dataset_dir.resolve()), str(evaluator.root.parent), evaluator.answer_metrics
        )
        for _ in range(n_workers)
    ]

    def run(batch: Sequence[tuple[Candidate, Sequence[Query], int]]) -> list[TrialResult]:
        futures = []
        for i, (candidate, queries, _rung) in enumerate(batch):
            actor = actors[i % len(actors)]
            futures.append(
                actor.run.remote(
                    candidate.config.model_dump(mode="json"),
                    candidate.trial_id,
                    candidate.params,
                    [q.id for q in queries],
                )
            )
        results = []
        for (_candidate, _queries, rung), data in zip(batch, ray.get(futures), strict=True):
            result = TrialResult.model_validate({**data, "rung": rung})
            result.extra = {"worker": "ray"}
            results.append(result)
        return results

    return run


def runner_factory(workers: int | None = None, address: str | None = None) -> RunnerFactory | None:
    """Ray actors when a worker count or a cluster address is given; None runs trials in process."""
    if not workers and not address:
        return None

    def factory(evaluator: Evaluator) -> BatchRunner:
        return ray_runner(evaluator, workers=workers, address=address)

    return factory
