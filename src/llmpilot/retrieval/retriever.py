"""Keyword, dense and hybrid retrieval over an IndexSet."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from llmpilot.config import RetrievalConfig
from llmpilot.indexing import IndexSet
from llmpilot.protocols import Embedder
from llmpilot.retrieval.fusion import convex, rrf
from llmpilot.types import Hit, ScoredId


class Retriever:
    def __init__(self, cfg: RetrievalConfig, indexes: IndexSet, embedder: Embedder | None) -> None:
        if cfg.mode in ("dense", "hybrid") and (indexes.vector is None or embedder is None):
            raise ValueError(f"retrieval mode {cfg.mode!r} needs a vector index and an embedder")
        if cfg.mode in ("keyword", "hybrid") and indexes.keyword is None:
            raise ValueError(f"retrieval mode {cfg.mode!r} needs a keyword index")
        self.cfg = cfg
        self.indexes = indexes
        self.embedder = embedder

    def retrieve(self, query: str, k: int | None = None, *, vector: np.ndarray | None = None) -> list[Hit]:
        """`vector`: the query's embedding when the caller has it already (not embedded again)."""
        vectors = None if vector is None else np.asarray(vector, dtype=np.float32).reshape(1, -1)
        return self.retrieve_many([query], k, vectors=vectors)[0]

    def candidate_lists(
        self, queries: Sequence[str], depth: int, vectors: np.ndarray | None = None
    ) -> list[dict[str, list[ScoredId]]]:
        """Per query, each retriever's own ranked candidates (before fusion)."""
        out: list[dict[str, list[ScoredId]]] = [{} for _ in queries]
        if self.cfg.mode in ("keyword", "hybrid") and self.indexes.keyword is not None:
            for slot, ranked in zip(out, self.indexes.keyword.search(queries, depth), strict=True):
                slot["keyword"] = ranked
        if (
            self.cfg.mode in ("dense", "hybrid")
            and self.indexes.vector is not None
            and self.embedder is not None
        ):
            if vectors is None:
                vectors = self.embedder.embed(list(queries), "query")
            for slot, ranked in zip(out, self.indexes.vector.search(vectors, depth), strict=True):
                slot["dense"] = ranked
        return out

    def retrieve_many(
        self, queries: Sequence[str], k: int | None = None, *, vectors: np.ndarray | None = None
    ) -> list[list[Hit]]:
        k = k or self.cfg.top_k
        depth = max(self.cfg.candidates, k)
        results = []
        for lists in self.candidate_lists(queries, depth, vectors):
            results.append(self.fuse(lists, k))
        return results

    def fuse(self, lists: dict[str, list[ScoredId]], k: int) -> list[Hit]:
        """The top-k hits from per-retriever candidate lists, fused as configured."""
        raw = {name: {item.id: item.score for item in ranked} for name, ranked in lists.items()}
        if len(lists) == 1:
            (only,) = lists.values()
            fused = [(item.id, item.score) for item in only]
        elif self.cfg.fusion.method == "rrf":
            fused = rrf(lists, self.cfg.fusion.rrf_k)
        else:
            w = self.cfg.fusion.weight
            fused = convex(lists, {"dense": w, "keyword": 1.0 - w}, self.cfg.fusion.normalization)
        hits = []
        for rank, (chunk_id, score) in enumerate(fused[:k], start=1):
            chunk = self.indexes.by_id[chunk_id]
            scores = {name: values[chunk_id] for name, values in raw.items() if chunk_id in values}
            hits.append(
                Hit(
                    chunk=chunk,
                    score=score,
                    rank=rank,
                    scores=scores,
                    title=self.indexes.titles.get(chunk.doc_id, ""),
                )
            )
        return hits


def rank_documents(hits: Sequence[Hit]) -> list[str]:
    """Document ids in the order of their best-ranked chunk (chunk hits -> document ranking)."""
    return list(dict.fromkeys(h.chunk.doc_id for h in hits))
