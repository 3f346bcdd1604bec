"""Successive halving with corpus sampling: early rungs index a nested corpus sample, so pairs of
(chunking, embedder) eliminated early are never embedded in full."""

from __future__ import annotations

from pathlib import Path

from llmpilot.evaluation.datasets import load_dataset
from llmpilot.optimization.evaluate import Evaluator
from llmpilot.optimization.sampling import sample_corpus
from llmpilot.optimization.search import Search, SearchSettings
from llmpilot.optimization.space import SearchSpace
from tests.integration.test_optimize import write_dataset

SPACE = {
    "transforms": {"pii": [], "dedup_exact": False, "dedup_near": False},
    "chunking": {"size": [60, 120, 400], "overlap": 0},
    "embedder": {"name": "hashing"},
    "retrieval": {"mode": ["dense", "hybrid"], "fusion": {"weight": [0.3, 0.7]}},
}


def test_samples_keep_relevant_documents_and_are_nested(tmp_path: Path) -> None:
    dataset = load_dataset(write_dataset(tmp_path / "tiny"))
    small = sample_corpus(dataset, dataset.queries[:3], 0.2)
    large = sample_corpus(dataset, dataset.queries[:9], 0.6)
    small_ids = {d.id for d in small.dataset.corpus}
    large_ids = {d.id for d in large.dataset.corpus}
    for query in dataset.queries[:3]:
        assert set(dataset.qrels[query.id]) <= small_ids
    assert small_ids < large_ids < {d.id for d in dataset.corpus}
    assert small.fingerprint != large.fingerprint
    assert sample_corpus(dataset, dataset.queries[:3], 0.2).fingerprint == small.fingerprint
    assert [q.id for q in small.dataset.queries] == [q.id for q in dataset.queries[:3]]


def test_sampled_halving_embeds_less_and_keeps_a_good_config(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "tiny")
    space = SearchSpace.from_dict(SPACE)

    def run(work: Path, **settings: object) -> tuple[list, Evaluator]:
        evaluator = Evaluator(load_dataset(data), data, work)
        results = Search(space, evaluator, SearchSettings(**settings)).run()  # type: ignore[arg-type]
        return results, evaluator

    grid, grid_eval = run(tmp_path / "grid", strategy="grid")
    _plain, plain_eval = run(tmp_path / "plain", strategy="halving", min_queries=4, eta=3)
    sampled, sampled_eval = run(
        tmp_path / "sampled", strategy="halving", min_queries=4, eta=3, sample_corpus=True
    )
    # Plain halving still embeds every (chunking, embedder) pair in full at rung 0.
    assert plain_eval.meter.passages_embedded == grid_eval.meter.passages_embedded
    assert sampled_eval.meter.passages_embedded < grid_eval.meter.passages_embedded
    n_docs = len(load_dataset(data).corpus)
    early = [r for r in sampled if not r.complete]
    final = [r for r in sampled if r.complete]
    assert early and all(r.corpus_docs is not None and r.corpus_docs < n_docs for r in early)
    assert final and all(r.corpus_docs == n_docs for r in final)
    best_grid = max(r.mean("ndcg@10") for r in grid)
    assert max(r.mean("ndcg@10") for r in final) >= best_grid - 0.05
    for evaluator in (grid_eval, plain_eval, sampled_eval):
        evaluator.close()
