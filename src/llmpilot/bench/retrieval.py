"""Retrieval benchmark on a dataset folder, through the real pipeline (ingest -> index -> retrieve).

The dataset's corpus is ingested into a work project (kept between runs, so its embedding cache
is reused by every config that shares an embedder); documents are ranked by their best chunk.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from llmpilot.config import PipelineConfig
from llmpilot.evaluation.datasets import load_dataset
from llmpilot.evaluation.importers import as_dataset_folder
from llmpilot.evaluation.retrieval_metrics import evaluate_retrieval
from llmpilot.ingest import Ingestor, needs_embeddings
from llmpilot.optimization.evaluate import dataset_unit
from llmpilot.pipeline import Pipeline
from llmpilot.project import Project
from llmpilot.retrieval.retriever import rank_documents

#: What `llmpilot bench retrieval` reports (BEIR's headline numbers).
BENCH_METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10")


def run_retrieval_benchmark(
    dataset_dir: Path,
    cfg: PipelineConfig,
    *,
    workdir: Path,
    depth: int = 100,
    max_queries: int | None = None,
    progress: bool = False,
    store: str = "sqlite:///bench.db",
) -> dict[str, Any]:
    """`store`: where the work project keeps its store (a SQLite file in it by default; a PostgreSQL
    URL measures the same pipeline on that backend)."""
    dataset_dir = as_dataset_folder(dataset_dir, workdir / "datasets")
    dataset = load_dataset(dataset_dir, max_queries=max_queries, for_retrieval=True)
    work_cfg = cfg.model_copy(update={"store": store})
    project = Project.from_config(workdir / dataset.name, work_cfg)
    try:
        t0 = time.perf_counter()
        report = Ingestor(project, progress=progress).run([dataset_unit(dataset, dataset_dir)])
        pipeline = Pipeline(project, progress=progress)
        indexes = pipeline.indexes
        index_seconds = time.perf_counter() - t0

        texts = [q.text for q in dataset.queries]
        # Chunks, not documents, are ranked: ask for enough chunks to fill `depth` documents.
        chunk_depth = depth * max(1, round(len(indexes.chunks) / max(1, len(dataset.corpus))))
        retriever = pipeline.retriever
        retriever.cfg = retriever.cfg.model_copy(
            update={"candidates": max(retriever.cfg.candidates, chunk_depth)}
        )
        if texts:
            retriever.retrieve(texts[0], chunk_depth)  # warm-up: loads the query encoder
        t1 = time.perf_counter()
        per_query_ms: list[float] = []
        run: dict[str, list[str]] = {}
        for query, text in zip(dataset.queries, texts, strict=True):
            tq = time.perf_counter()
            hits = retriever.retrieve(text, chunk_depth)
            per_query_ms.append((time.perf_counter() - tq) * 1000)
            run[query.id] = rank_documents(hits)[:depth]
        query_seconds = time.perf_counter() - t1
        scores = evaluate_retrieval(run, dataset.qrels, ks=(10, 100), metrics=("ndcg", "recall", "mrr"))
        metrics = {name: scores.mean[name] for name in BENCH_METRICS}
        return {
            "dataset": dataset.name,
            "mode": cfg.retrieval.mode,
            "config_hash": cfg.hash(),
            "config": cfg.model_dump(mode="json"),
            "metrics": metrics,
            "queries": len(dataset.queries),
            "docs": len(dataset.corpus),
            "chunks": len(indexes.chunks),
            "index_seconds": round(index_seconds, 3),
            "index_built": not indexes.loaded,
            "passages_embedded": report.passages_embedded if needs_embeddings(cfg) else 0,
            "embedding_cache_hits": report.embedding_cache_hits,
            "query_seconds": round(query_seconds, 3),
            "query_ms_p50": round(statistics.median(per_query_ms), 2) if per_query_ms else 0.0,
            "query_ms_p95": round(percentile(per_query_ms, 95), 2) if per_query_ms else 0.0,
        }
    finally:
        project.close()


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (`pct` 0-100) of a non-empty list: a value that was measured."""
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[idx]
