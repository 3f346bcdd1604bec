"""`llmpilot optimize` as a library call: search, select, and write best.yaml, results.json, report.html."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from llmpilot.errors import ConfigError
from llmpilot.evaluation.datasets import load_dataset
from llmpilot.evaluation.importers import as_dataset_folder
from llmpilot.generation.prompting import snippet
from llmpilot.optimization.answers import (
    ANSWER_METRICS,
    DEFAULT_ANSWER_METRICS,
    check_answer_metrics,
    is_answer_metric,
)
from llmpilot.optimization.evaluate import METRICS as RETRIEVAL_METRICS
from llmpilot.optimization.evaluate import Evaluator
from llmpilot.optimization.report import render_report
from llmpilot.optimization.results import (
    BestRef,
    CheapestRef,
    Compute,
    RetrievedDoc,
    StudyResult,
    TrialRef,
    TrialResult,
    WorstQuery,
)
from llmpilot.optimization.search import BatchRunner, RunnerFactory, Search
from llmpilot.optimization.select import Selection, aggregate, select
from llmpilot.optimization.settings import SearchSettings
from llmpilot.optimization.space import SearchSpace
from llmpilot.retrieval.retriever import Retriever, rank_documents

WORST_QUERIES = 10


@dataclass
class OptimizationOutput:
    best_yaml: Path
    results_json: Path
    report_html: Path
    selection: Selection
    results: StudyResult


def optimize(
    dataset_dir: Path,
    space_file: Path,
    out: Path,
    settings: SearchSettings,
    *,
    workdir: Path,
    runner_factory: RunnerFactory | None = None,
    progress: bool = False,
    resume: bool = True,
    overrides: Sequence[str] = (),
) -> OptimizationOutput:
    """`overrides`: `--set KEY=VALUE` items fixing keys of the space (SearchSpace.load)."""
    t0 = time.perf_counter()
    # --dataset takes any supported format (BEIR, AutoRAG parquet, CSV/XLSX): convert it once.
    dataset_dir = as_dataset_folder(dataset_dir, workdir / "datasets")
    # Checked before the first trial: an empty corpus, queries or qrels file fails here, by name.
    dataset = load_dataset(dataset_dir, for_retrieval=True)
    space = SearchSpace.load(space_file, overrides)
    settings = with_answer_metrics(settings, space)
    evaluator = Evaluator(
        dataset, dataset_dir, workdir, progress=progress, answer_metrics=settings.answer_metrics
    )
    try:
        runner: BatchRunner | None = runner_factory(evaluator) if runner_factory else None
        search = Search(space, evaluator, settings, runner=runner, progress=progress, resume=resume)
        trials = search.run()
        selection = select(trials, settings.primary_metric)
        results = _study_result(
            dataset_dir,
            space_file,
            settings,
            trials,
            selection,
            evaluator,
            time.perf_counter() - t0,
            len(search.candidates),
        )
    finally:
        evaluator.close()

    out.mkdir(parents=True, exist_ok=True)
    best_cfg = selection.best.config.model_copy(update={"store": "sqlite:///llmpilot.db"})
    best_yaml = out / "best.yaml"
    header = (
        f"# Best config found by `llmpilot optimize` ({settings.strategy}) on {dataset.name}: "
        f"{settings.primary_metric} {selection.best.mean(settings.primary_metric):.4f}\n"
        "# Use it as a project config: llmpilot ingest --config best.yaml …, then llmpilot ask --config …\n"
    )
    best_yaml.write_text(header + best_cfg.to_yaml(), encoding="utf-8")
    results_json = results.write(out / "results.json")
    report = render_report(results, out / "report.html")
    return OptimizationOutput(best_yaml, results_json, report, selection, results)


def with_answer_metrics(settings: SearchSettings, space: SearchSpace) -> SearchSettings:
    """Settings whose answer metrics cover what the study needs: the primary metric when it is an
    answer metric, and the default set when the space varies the generator or the prompt (those
    choices are invisible to retrieval metrics)."""
    names = list(settings.answer_metrics)
    varies_generation = any(key.startswith(("generator.", "prompt.")) for key in space.varied)
    if not names and (varies_generation or is_answer_metric(settings.primary_metric)):
        names = list(DEFAULT_ANSWER_METRICS)
    if is_answer_metric(settings.primary_metric) and settings.primary_metric not in names:
        names.insert(0, settings.primary_metric)
    known = (*RETRIEVAL_METRICS, *names)
    if settings.primary_metric not in known:
        raise ConfigError(
            f"unknown primary metric {settings.primary_metric!r}; use one of {', '.join(RETRIEVAL_METRICS)} "
            f"or an answer metric ({', '.join(ANSWER_METRICS)})"
        )
    return replace(settings, answer_metrics=check_answer_metrics(names))


def _study_result(
    dataset_dir: Path,
    space_file: Path,
    settings: SearchSettings,
    trials: list[TrialResult],
    selection: Selection,
    evaluator: Evaluator,
    seconds: float,
    n_candidates: int,
) -> StudyResult:
    cheapest = selection.cheapest_not_worse
    meter = evaluator.meter
    return StudyResult(
        dataset=evaluator.dataset.name,
        dataset_dir=dataset_dir,
        space_file=space_file,
        strategy=settings.strategy,
        settings=settings,
        primary_metric=settings.primary_metric,
        created=datetime.now(UTC).replace(microsecond=0),
        seconds=round(seconds, 2),
        compute=Compute(
            trials_evaluated=len(trials),
            query_evaluations=sum(t.n_queries for t in trials),
            trial_seconds=round(sum(t.seconds for t in trials), 3),
            passages_embedded=meter.passages_embedded,
            queries_embedded=meter.queries_embedded,
            answers_generated=meter.answers_generated,
            this_run=meter.as_dict(),
        ),
        candidates=n_candidates,
        trials=[t.model_copy(update={"metrics": aggregate(t)}) for t in trials],
        best=BestRef(
            trial_id=selection.best.trial_id,
            n_queries=selection.best.n_queries,
            params=selection.best.params,
        ),
        runner_up=TrialRef(trial_id=selection.runner_up.trial_id) if selection.runner_up else None,
        significance=selection.significance,
        cheapest_not_worse=(
            CheapestRef(
                trial_id=cheapest.trial_id,
                latency_ms_p50=cheapest.latency_ms_p50,
                p_value=selection.cheapest_p_value,
            )
            if cheapest
            else None
        ),
        worst_queries=_worst_queries(selection.best, evaluator, settings.primary_metric),
    )


def _worst_queries(best: TrialResult, evaluator: Evaluator, metric: str) -> list[WorstQuery]:
    prepared = evaluator.prepare(best.config)
    retriever = Retriever(best.config.retrieval, prepared.indexes, prepared.embedder)
    scores = best.per_query[metric]
    by_id = {q.id: q for q in evaluator.dataset.queries}
    out = []
    for qid in sorted(scores, key=lambda q: (scores[q], q))[:WORST_QUERIES]:
        query = by_id[qid]
        relevant = evaluator.dataset.qrels[qid]
        hits = retriever.retrieve(query.text, 20)
        retrieved: list[RetrievedDoc] = []
        for hit in hits:
            if len(retrieved) == 5:
                break
            if hit.chunk.doc_id in {r.doc_id for r in retrieved}:
                continue
            retrieved.append(
                RetrievedDoc(
                    rank=len(retrieved) + 1,
                    doc_id=hit.chunk.doc_id,
                    title=hit.title,
                    snippet=snippet(hit.chunk.text, 200),
                    score=hit.score,
                    relevant=relevant.get(hit.chunk.doc_id, 0) > 0,
                )
            )
        out.append(
            WorstQuery(
                query_id=qid,
                text=query.text,
                score=scores[qid],
                relevant=sorted(d for d, v in relevant.items() if v > 0),
                retrieved=retrieved,
                doc_ranking_top10=rank_documents(hits)[:10],
                # Answer-evaluating studies: what the best config said, next to the reference.
                answer=best.answers.get(qid) if best.answers else None,
                reference=query.answers[0] if query.answers else None,
            )
        )
    return out
