"""The vector index contract: inner-product search over unit vectors, save/load, input checks and
recall against exact search. Vector indexes are built by `llmpilot.factory`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from llmpilot import factory
from llmpilot.config import VectorIndexConfig
from llmpilot.protocols import VectorIndex

DIM = 32


def unit_vectors(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


# Korean and English chunk ids: ids are opaque strings and must survive save/load.
IDS = [f"문서-{i}.txt#{i % 3}" if i % 2 else f"doc-{i}.md#{i % 3}" for i in range(60)]
VECTORS = unit_vectors(len(IDS))


def make_vector_index(kind: str, dim: int = DIM) -> VectorIndex:
    return factory.vector_index(VectorIndexConfig(kind=kind), dim)


def load_same_kind(index: VectorIndex, path: Path) -> Any:
    """Load a saved index through its own class (`load(path)` classmethod, as the built-ins have)."""
    load = getattr(type(index), "load", None)
    assert callable(load), f"{type(index).__name__} needs a classmethod load(path) to be reloaded"
    return load(path)


class VectorIndexContract:
    """Override `vector_index_kind` with the name your index is registered under (`index.vector.kind`)."""

    @pytest.fixture
    def vector_index_kind(self) -> str:
        raise NotImplementedError("override the vector_index_kind fixture: return your registered name")

    @pytest.fixture
    def index(self, vector_index_kind: str) -> VectorIndex:
        idx = make_vector_index(vector_index_kind)
        idx.build(IDS, VECTORS)
        return idx

    def test_satisfies_protocol(self, index: VectorIndex) -> None:
        assert isinstance(index, VectorIndex)
        assert len(index) == len(IDS)

    def test_each_vector_finds_itself_first(self, index: VectorIndex) -> None:
        results = index.search(VECTORS, k=3)
        assert [hits[0].id for hits in results] == IDS
        assert all(abs(hits[0].score - 1.0) < 1e-4 for hits in results)

    def test_scores_are_inner_products_sorted_desc(self, index: VectorIndex) -> None:
        queries = unit_vectors(5, seed=1)
        for q, hits in zip(queries, index.search(queries, k=10), strict=True):
            assert len(hits) == 10
            scores = [h.score for h in hits]
            assert scores == sorted(scores, reverse=True)
            for h in hits:
                assert h.score == pytest.approx(float(VECTORS[IDS.index(h.id)] @ q), abs=1e-4)

    def test_k_larger_than_corpus(self, index: VectorIndex) -> None:
        [hits] = index.search(unit_vectors(1, seed=2), k=1000)
        assert sorted(h.id for h in hits) == sorted(IDS)

    def test_no_queries(self, index: VectorIndex) -> None:
        assert index.search(np.zeros((0, DIM), dtype=np.float32), k=5) == []

    def test_empty_index(self, vector_index_kind: str, tmp_path: Path) -> None:
        idx = make_vector_index(vector_index_kind)
        idx.build([], np.zeros((0, DIM), dtype=np.float32))
        assert len(idx) == 0
        assert idx.search(unit_vectors(2), k=3) == [[], []]
        idx.save(tmp_path / "empty")
        loaded = load_same_kind(idx, tmp_path / "empty")
        assert len(loaded) == 0
        assert loaded.search(unit_vectors(1), k=3) == [[]]

    def test_save_load_gives_identical_results(
        self, index: VectorIndex, vector_index_kind: str, tmp_path: Path
    ) -> None:
        index.save(tmp_path / "vec")
        manifest = json.loads((tmp_path / "vec" / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["kind"] == vector_index_kind and manifest["count"] == len(IDS)
        loaded = load_same_kind(index, tmp_path / "vec")
        assert type(loaded) is type(index)
        assert len(loaded) == len(index)
        queries = unit_vectors(10, seed=3)
        assert loaded.search(queries, k=7) == index.search(queries, k=7)

    def test_rebuild_replaces_contents(self, index: VectorIndex) -> None:
        index.build(["한 개"], VECTORS[:1])
        assert len(index) == 1
        assert [h.id for h in index.search(VECTORS[:2], k=5)[0]] == ["한 개"]

    def test_build_validates_input(self, vector_index_kind: str) -> None:
        idx = make_vector_index(vector_index_kind)
        with pytest.raises(ValueError, match="dimension"):
            idx.build(["a"], unit_vectors(1, dim=DIM + 1))
        with pytest.raises(ValueError, match="2-D"):
            idx.build(["a"], VECTORS[0])
        with pytest.raises(ValueError, match="pair up"):
            idx.build(["a", "b"], VECTORS[:3])
        with pytest.raises(ValueError, match="duplicate ids"):
            idx.build(["a", "b", "a"], VECTORS[:3])
        bad = VECTORS[:2].copy()
        bad[1, 3] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            idx.build(["a", "b"], bad)
        assert len(idx) == 0  # a failed build leaves the index as it was

    def test_search_validates_input(self, index: VectorIndex) -> None:
        with pytest.raises(ValueError, match="dimension"):
            index.search(unit_vectors(1, dim=DIM - 1), k=3)
        with pytest.raises(ValueError, match="k must be"):
            index.search(unit_vectors(1), k=0)

    def test_recall_at_10_against_exact(self, vector_index_kind: str) -> None:
        """2,000 random unit vectors: approximate search must find >= 95% of the exact top 10."""
        corpus = unit_vectors(2000, seed=10)
        queries = unit_vectors(200, seed=11)
        ids = [f"v{i}" for i in range(len(corpus))]
        approx = make_vector_index(vector_index_kind)
        approx.build(ids, corpus)
        # The truth, computed here rather than by another index: cosine = inner product of unit vectors.
        truth = np.argsort(-(queries @ corpus.T), axis=1, kind="stable")[:, :10]
        found = approx.search(queries, k=10)
        recall = np.mean(
            [len({ids[i] for i in t} & {h.id for h in f}) / 10 for t, f in zip(truth, found, strict=True)]
        )
        assert recall >= 0.95, f"{vector_index_kind}: recall@10 {recall:.3f}"
