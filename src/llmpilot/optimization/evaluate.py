"""Evaluate pipeline configs on a retrieval dataset, sharing every artifact that can be shared.

All configs of one dataset share one work store: chunk sets are keyed by the chunking hash,
embeddings by (model, text), indexes by the index hash, so trials that agree on chunking and
embedder reuse the same chunks, vectors and indexes. Within a run, query vectors and each index
set's candidate lists are computed once and fused per trial.
"""

from __future__ import annotations

import hashlib
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from llmpilot import factory
from llmpilot.config import PipelineConfig
from llmpilot.embedding.cache import CachedEmbedder
from llmpilot.errors import DatasetError
from llmpilot.evaluation.datasets import Query, RetrievalDataset
from llmpilot.evaluation.retrieval_metrics import score_query
from llmpilot.hashing import text_hash
from llmpilot.indexing import IndexSet, open_indexes
from llmpilot.ingest import Ingestor, needs_embeddings
from llmpilot.optimization.answers import AnswerGenerator, check_answer_metrics
from llmpilot.optimization.results import TrialResult
from llmpilot.project import Project
from llmpilot.protocols import Embedder
from llmpilot.retrieval.retriever import Retriever, rank_documents
from llmpilot.sources.base import LoadResult, SourceUnit
from llmpilot.store.db import Store
from llmpilot.types import EmbedKind, Hit, ScoredId

#: Per-query retrieval metrics every trial reports.
METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10", "precision@10", "map@10", "hit_rate@10")
#: Queries timed (uncached) per index set to report latency.
LATENCY_SAMPLE = 10


@dataclass
class ComputeMeter:
    passages_embedded: int = 0
    queries_embedded: int = 0
    query_evaluations: int = 0
    trials_evaluated: int = 0
    answers_generated: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class QueryVectorCache:
    """Wraps an embedder: each distinct query text is embedded once per run."""

    def __init__(self, embedder: Embedder, meter: ComputeMeter) -> None:
        self.inner = embedder
        self.meter = meter
        self.model_id = embedder.model_id
        self._memo: dict[str, np.ndarray] = {}

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed(self, texts: Sequence[str], kind: EmbedKind) -> np.ndarray:
        if kind == "passage":
            return self.inner.embed(texts, kind)
        missing = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if missing:
            for text, vector in zip(missing, self.inner.embed(missing, "query"), strict=True):
                self._memo[text] = vector
            self.meter.queries_embedded += len(missing)
        if not texts:
            return np.zeros((0, self.inner.dim), dtype=np.float32)
        return np.stack([self._memo[t] for t in texts])


class SharedCacheEmbedder:
    """Passages through another store's embedding cache (the full corpus's), counting real model
    calls: a corpus sample's work store then reuses, and feeds, the vectors the full study needs."""

    def __init__(self, embedder: Embedder, cache: Store, meter: ComputeMeter) -> None:
        self.inner = embedder
        self.cached = CachedEmbedder(embedder, cache)
        self.meter = meter
        self.model_id = embedder.model_id

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed(self, texts: Sequence[str], kind: EmbedKind) -> np.ndarray:
        if kind == "query":
            return self.inner.embed(texts, kind)
        before = self.cached.stats.embedded
        vectors = self.cached.passages(texts, [text_hash(t) for t in texts])
        self.meter.passages_embedded += self.cached.stats.embedded - before
        return vectors


def dataset_unit(dataset: RetrievalDataset, folder: Path, fingerprint: str | None = None) -> SourceUnit:
    """The dataset's corpus as one source unit, fingerprinted by the corpus file (or by the caller,
    for a sample of it)."""
    corpus = folder / "corpus.jsonl"
    if fingerprint is None and corpus.exists():
        fingerprint = hashlib.sha256(corpus.read_bytes()).hexdigest()
    key = f"dataset:{dataset.name}"
    return SourceUnit(
        key=key, origin=key, fingerprint=fingerprint, loader=lambda: LoadResult(list(dataset.corpus), [])
    )


@dataclass
class _Prepared:
    indexes: IndexSet
    embedder: QueryVectorCache | None
    chunk_depth: int
    #: (mode, depth) -> query id -> per-retriever candidates
    lists: dict[tuple[str, int], dict[str, dict[str, list[ScoredId]]]] = field(default_factory=dict)
    latency_ms: float | None = None


class Evaluator:
    def __init__(
        self,
        dataset: RetrievalDataset,
        dataset_dir: Path,
        workdir: Path,
        *,
        depth: int = 100,
        progress: bool = False,
        meter: ComputeMeter | None = None,
        read_only: bool = False,
        answer_metrics: Sequence[str] = (),
        corpus_fingerprint: str | None = None,
        shared_cache: Store | None = None,
    ) -> None:
        self.read_only = read_only
        #: Empty: retrieval metrics only. Otherwise each trial also generates and scores answers.
        self.answer_metrics = check_answer_metrics(answer_metrics)
        self.dataset = dataset
        self.dataset_dir = dataset_dir
        self.root = (workdir / dataset.name).resolve()
        self.depth = depth
        self.progress = progress
        self.meter = meter or ComputeMeter()
        self.root.mkdir(parents=True, exist_ok=True)
        self.store = Store.open(f"sqlite:///{self.root / 'bench.db'}")
        self._unit = dataset_unit(dataset, dataset_dir, corpus_fingerprint)
        self._embedders: dict[str, QueryVectorCache] = {}
        self._prepared: dict[tuple[str, bool], _Prepared] = {}
        self.answerer = AnswerGenerator(self.root, self.store.document_texts) if self.answer_metrics else None
        #: A corpus sample's evaluator embeds through the full study's cache (and counts real calls).
        self.shared_cache = shared_cache
        if self.answer_metrics and not any(q.answers for q in dataset.queries):
            raise DatasetError(
                f"dataset {dataset.name}: answer metrics ({', '.join(self.answer_metrics)}) need reference "
                "answers ('answers' in queries.jsonl), and no query has one"
            )

    def close(self) -> None:
        self.store.close()

    def project(self, cfg: PipelineConfig) -> Project:
        cfg = cfg.model_copy(update={"store": f"sqlite:///{self.root / 'bench.db'}"})
        return Project(root=self.root, config=cfg, config_path=self.root / "llmpilot.yaml", _store=self.store)

    def _embedder(self, cfg: PipelineConfig) -> QueryVectorCache | None:
        if not needs_embeddings(cfg):
            return None
        key = cfg.embedder.model_dump_json()
        if key not in self._embedders:
            self._embedders[key] = QueryVectorCache(factory.embedder(cfg.embedder), self.meter)
        return self._embedders[key]

    def prepare(self, cfg: PipelineConfig) -> _Prepared:
        """Ingest/chunk/embed/index what `cfg` needs (cached on disk and in memory)."""
        need_vector = needs_embeddings(cfg)
        key = (cfg.index_hash(), need_vector)
        if key in self._prepared:
            return self._prepared[key]
        project = self.project(cfg)
        embedder = self._embedder(cfg)
        passage_embedder: Embedder | None = embedder.inner if embedder else None
        if passage_embedder is not None and self.shared_cache is not None:
            passage_embedder = SharedCacheEmbedder(passage_embedder, self.shared_cache, self.meter)
        own_count = self.shared_cache is None  # else SharedCacheEmbedder counts the model calls
        if not self.read_only:  # parallel workers only read what the driver built
            report = Ingestor(project, embedder=passage_embedder, progress=self.progress).run([self._unit])
            self.meter.passages_embedded += report.passages_embedded if own_count else 0
        before = self.store.counts()["embeddings"]
        indexes = open_indexes(
            project, need_vector=need_vector, embedder=passage_embedder, progress=self.progress
        )
        if own_count:
            self.meter.passages_embedded += self.store.counts()["embeddings"] - before
        ratio = max(1, round(len(indexes.chunks) / max(1, len(self.dataset.corpus))))
        prepared = _Prepared(indexes=indexes, embedder=embedder, chunk_depth=self.depth * ratio)
        self._prepared[key] = prepared
        return prepared

    def evaluate(
        self,
        cfg: PipelineConfig,
        queries: Sequence[Query],
        *,
        trial_id: str = "",
        params: dict[str, object] | None = None,
    ) -> TrialResult:
        t0 = time.perf_counter()
        prepared = self.prepare(cfg)
        embedded_before = self.meter.passages_embedded
        retriever = Retriever(cfg.retrieval, prepared.indexes, prepared.embedder)
        depth = max(cfg.retrieval.candidates, prepared.chunk_depth)
        cache = prepared.lists.setdefault((cfg.retrieval.mode, depth), {})
        todo = [q for q in queries if q.id not in cache]
        if todo:
            for query, lists in zip(
                todo, retriever.candidate_lists([q.text for q in todo], depth), strict=True
            ):
                cache[query.id] = lists
        if prepared.latency_ms is None:
            prepared.latency_ms = self._latency(retriever, queries, depth)
        per_query: dict[str, dict[str, float]] = {m: {} for m in METRICS}
        sources: dict[str, list[Hit]] = {}
        for query in queries:
            lists = {name: ranked[: cfg.retrieval.candidates] for name, ranked in cache[query.id].items()}
            hits = retriever.fuse(lists, prepared.chunk_depth)
            sources[query.id] = hits[: cfg.retrieval.top_k]
            docs = rank_documents(hits)[: self.depth]
            scores = score_query(docs, self.dataset.qrels[query.id], ks=(10, 100))
            for name in METRICS:
                per_query[name][query.id] = scores[name]
        answers, generation_ms = self._answers(cfg, queries, sources, per_query)
        self.meter.query_evaluations += len(queries)
        self.meter.trials_evaluated += 1
        return TrialResult(
            trial_id=trial_id or cfg.hash(),
            config=cfg,
            params=params or {},
            n_queries=len(queries),
            per_query=per_query,
            latency_ms_p50=round(prepared.latency_ms + (generation_ms or 0.0), 3),
            seconds=time.perf_counter() - t0,
            passages_embedded=self.meter.passages_embedded - embedded_before,
            complete=len(queries) == len(self.dataset.queries),
            answers=answers,
            generation_ms_p50=generation_ms,
            corpus_docs=len(self.dataset.corpus),
            passages=len(prepared.indexes.chunks),
        )

    def _answers(
        self,
        cfg: PipelineConfig,
        queries: Sequence[Query],
        sources: dict[str, list[Hit]],
        per_query: dict[str, dict[str, float]],
    ) -> tuple[dict[str, str], float | None]:
        """Generate and score answers (queries without reference answers are not scored)."""
        if self.answerer is None:
            return {}, None
        answered = [q for q in queries if q.answers]
        texts: dict[str, str] = {}
        times: list[float] = []
        for query in answered:
            generated = self.answerer.answer(cfg, query.text, sources[query.id])
            texts[query.id] = generated.text
            times.append(generated.seconds * 1000)
            self.meter.answers_generated += 0 if generated.reused else 1
        # Imported here: answer metrics need the `eval` extra; retrieval-only runs do not.
        from llmpilot.evaluation.scoring import score_answers

        rows = score_answers(
            [texts[q.id] for q in answered], [q.answers for q in answered], self.answer_metrics
        )
        for name in self.answer_metrics:
            per_query[name] = {q.id: row[name] for q, row in zip(answered, rows, strict=True)}
        return texts, (round(statistics.median(times), 3) if times else None)

    def _latency(self, retriever: Retriever, queries: Sequence[Query], depth: int) -> float:
        """p50 of uncached single-query retrieval (query encoding included), on a few queries."""
        sample = list(queries[:LATENCY_SAMPLE])
        if not sample:
            return 0.0
        embedder = retriever.embedder
        if isinstance(embedder, QueryVectorCache):
            retriever = Retriever(retriever.cfg, retriever.indexes, embedder.inner)
        retriever.retrieve(sample[0].text, depth)  # warm-up
        times = []
        for query in sample:
            t = time.perf_counter()
            retriever.retrieve(query.text, depth)
            times.append((time.perf_counter() - t) * 1000)
        return round(statistics.median(times), 3)
