"""Vector indexes over L2-normalized embeddings: exact (numpy) and HNSW (usearch).

Embedders return unit vectors, so the inner product is the cosine similarity; both indexes score by
inner product so that they agree. Registered in `registry.vector_indexes` as factory(cfg, dim).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import ValidationError
from threadpoolctl import threadpool_limits

from llmpilot.config import VectorIndexConfig
from llmpilot.errors import StoreError
from llmpilot.index import (
    FORMAT_VERSION,
    IDS_FILE,
    MANIFEST,
    begin_save,
    check_unique_ids,
    read_ids,
    read_manifest,
    write_json,
)
from llmpilot.protocols import VectorIndex
from llmpilot.registry import vector_indexes
from llmpilot.types import ScoredId

if TYPE_CHECKING:
    from llmpilot.index.pgvector import PgVectorIndex

#: Queries scored per matmul in the exact index: bounds the (batch x corpus) score matrix.
_QUERY_BATCH = 256


def _as_matrix(vectors: np.ndarray, dim: int, what: str) -> np.ndarray:
    """A C-contiguous float32 (n, dim) copy-if-needed of `vectors`, with clear errors."""
    arr = np.asarray(vectors)
    if arr.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array (n, {dim}), got shape {arr.shape}")
    if arr.shape[1] != dim:
        raise ValueError(f"{what} have dimension {arr.shape[1]} but the index expects {dim}")
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{what} must be numeric, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise ValueError(f"{what} contain NaN or infinite values")
    return arr


class _VectorIndexBase:
    """Shared id bookkeeping, validation and manifest handling."""

    kind: ClassVar[str]

    def __init__(self, cfg: VectorIndexConfig, dim: int) -> None:
        if dim < 1:
            raise ValueError(f"vector index dimension must be positive, got {dim}")
        self.cfg = cfg
        self.dim = dim
        self._ids: list[str] = []

    def __len__(self) -> int:
        return len(self._ids)

    def _check_build(self, ids: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        arr = _as_matrix(vectors, self.dim, "vectors")
        if arr.shape[0] != len(ids):
            raise ValueError(f"build got {len(ids)} ids but {arr.shape[0]} vectors; they must pair up")
        check_unique_ids(ids)
        return arr

    def _check_search(self, queries: np.ndarray, k: int) -> np.ndarray:
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        return _as_matrix(queries, self.dim, "queries")

    def _manifest(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "format": FORMAT_VERSION,
            "count": len(self._ids),
            "dim": self.dim,
            "config": self.cfg.model_dump(mode="json"),
        }

    @staticmethod
    def _read(path: Path, kind: str) -> tuple[VectorIndexConfig, int, list[str]]:
        manifest = read_manifest(path, [kind])
        try:
            cfg = VectorIndexConfig.model_validate(manifest.get("config"))
        except ValidationError as exc:
            raise StoreError(
                f"{path / MANIFEST}: invalid vector index config ({exc}); rebuild the index"
            ) from None
        dim = manifest.get("dim")
        if not isinstance(dim, int) or dim < 1:
            raise StoreError(f"{path / MANIFEST}: invalid dimension {dim!r}; rebuild the index")
        return cfg, dim, read_ids(path, manifest["count"])


class ExactVectorIndex(_VectorIndexBase):
    """Brute-force inner product: exact, and fast enough for tens of thousands of chunks."""

    kind = "exact"
    VECTORS_FILE = "vectors.npy"

    def __init__(self, cfg: VectorIndexConfig, dim: int) -> None:
        super().__init__(cfg, dim)
        self._vectors = np.zeros((0, dim), dtype=np.float32)

    def build(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        self._vectors = self._check_build(ids, vectors)
        self._ids = list(ids)

    def search(self, queries: np.ndarray, k: int) -> list[list[ScoredId]]:
        q = self._check_search(queries, k)
        n = len(self._ids)
        if n == 0:
            return [[] for _ in range(q.shape[0])]
        top = min(k, n)
        out: list[list[ScoredId]] = []
        for lo in range(0, q.shape[0], _QUERY_BATCH):
            # One BLAS thread: OpenBLAS's pool keeps spinning after a call and starves the query
            # encoder's own threads (torch, OpenMP) on small machines; measured 12x slower queries.
            with threadpool_limits(1, user_api="blas"):
                scores = q[lo : lo + _QUERY_BATCH] @ self._vectors.T
            if top < n:
                cand = np.argpartition(-scores, top - 1, axis=1)[:, :top]
            else:
                cand = np.broadcast_to(np.arange(n), scores.shape)
            for row in range(scores.shape[0]):
                idx = cand[row]
                s = scores[row, idx]
                # Ties broken by insertion order, so results are deterministic.
                order = np.lexsort((idx, -s))
                out.append([ScoredId(self._ids[int(idx[i])], float(s[i])) for i in order])
        return out

    def save(self, path: Path) -> None:
        begin_save(path)
        np.save(path / self.VECTORS_FILE, self._vectors, allow_pickle=False)
        write_json(path / IDS_FILE, self._ids)
        write_json(path / MANIFEST, self._manifest())

    @classmethod
    def load(cls, path: Path) -> ExactVectorIndex:
        cfg, dim, ids = cls._read(path, cls.kind)
        file = path / cls.VECTORS_FILE
        try:
            vectors = np.load(file, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise StoreError(f"{file}: missing or corrupt ({exc}); rebuild the index") from None
        if vectors.shape != (len(ids), dim) or vectors.dtype != np.float32:
            raise StoreError(
                f"{file}: expected float32 {(len(ids), dim)}, found {vectors.dtype} {vectors.shape}; "
                "rebuild the index"
            )
        index = cls(cfg, dim)
        index._vectors, index._ids = vectors, ids
        return index


class HnswVectorIndex(_VectorIndexBase):
    """Approximate nearest neighbours (usearch HNSW): sub-linear search for large corpora.

    usearch addresses vectors by integer keys; key i is the i-th id given to `build`.
    """

    kind = "hnsw"
    INDEX_FILE = "index.usearch"
    #: Inner product, so scores equal the exact index's on unit vectors.
    METRIC = "ip"

    def __init__(self, cfg: VectorIndexConfig, dim: int) -> None:
        super().__init__(cfg, dim)
        self._index = self._new_index()

    def _new_index(self) -> Any:
        from usearch.index import Index

        return Index(
            ndim=self.dim,
            metric=self.METRIC,
            dtype="f32",
            connectivity=self.cfg.connectivity,
            expansion_add=self.cfg.expansion_add,
            expansion_search=self.cfg.expansion_search,
        )

    def build(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        arr = self._check_build(ids, vectors)
        self._index = self._new_index()
        if len(ids):
            # One thread: a multi-threaded insert order makes the graph (and, rarely, which
            # neighbour is found first) differ between builds of the same vectors.
            self._index.add(np.arange(len(ids), dtype=np.uint64), arr, threads=1)
        self._ids = list(ids)

    def search(self, queries: np.ndarray, k: int) -> list[list[ScoredId]]:
        q = self._check_search(queries, k)
        n = len(self._ids)
        if n == 0 or q.shape[0] == 0:
            return [[] for _ in range(q.shape[0])]
        # When k reaches a large share of the index the graph walk can come back short; a brute
        # force scan is then both complete and cheaper than widening the walk.
        exact = k >= n // 2
        matches = self._index.search(q, min(k, n), exact=exact)
        keys = np.atleast_2d(matches.keys)
        dists = np.atleast_2d(matches.distances)
        counts = np.atleast_1d(getattr(matches, "counts", [keys.shape[1]]))
        out: list[list[ScoredId]] = []
        for row in range(q.shape[0]):
            c = int(counts[row])
            idx = keys[row, :c].astype(np.int64)
            s = 1.0 - dists[row, :c].astype(np.float64)  # usearch "ip" distance is 1 - dot
            order = np.lexsort((idx, -s))
            out.append([ScoredId(self._ids[int(idx[i])], float(s[i])) for i in order])
        return out

    def save(self, path: Path) -> None:
        begin_save(path)
        self._index.save(str(path / self.INDEX_FILE))
        write_json(path / IDS_FILE, self._ids)
        write_json(path / MANIFEST, self._manifest())

    @classmethod
    def load(cls, path: Path) -> HnswVectorIndex:
        cfg, dim, ids = cls._read(path, cls.kind)
        index = cls(cfg, dim)
        file = path / cls.INDEX_FILE
        if not file.is_file():
            raise StoreError(f"{file}: missing; rebuild the index")
        try:
            index._index.load(str(file))
        except (RuntimeError, ValueError, OSError) as exc:
            raise StoreError(f"{file}: corrupt usearch index ({exc}); rebuild the index") from None
        if len(index._index) != len(ids) or index._index.ndim != dim:
            raise StoreError(
                f"{file}: holds {len(index._index)} vectors of dimension {index._index.ndim}, "
                f"expected {len(ids)} of {dim}; rebuild the index"
            )
        index._ids = ids
        return index


BuiltinVectorIndex = ExactVectorIndex | HnswVectorIndex
_KINDS: dict[str, type[ExactVectorIndex] | type[HnswVectorIndex]] = {
    ExactVectorIndex.kind: ExactVectorIndex,
    HnswVectorIndex.kind: HnswVectorIndex,
}


@vector_indexes.register("exact")
def _exact(cfg: VectorIndexConfig, dim: int) -> ExactVectorIndex:
    return ExactVectorIndex(cfg, dim)


@vector_indexes.register("hnsw")
def _hnsw(cfg: VectorIndexConfig, dim: int) -> HnswVectorIndex:
    return HnswVectorIndex(cfg, dim)


def create_vector_index(cfg: VectorIndexConfig, dim: int) -> VectorIndex:
    """The vector index named by `cfg.kind` (through `llmpilot.factory`, the one builder)."""
    from llmpilot import factory  # here: the factory loads this module through the registry

    return factory.vector_index(cfg, dim)


def load_vector_index(path: Path) -> BuiltinVectorIndex | PgVectorIndex:
    """Load a saved vector index of whichever kind its manifest names."""
    kind = read_manifest(path, [*_KINDS, "pgvector"]).get("kind")
    if kind == "pgvector":
        from llmpilot.index.pgvector import PgVectorIndex  # here: it imports this module

        return PgVectorIndex.load(path)
    return _KINDS[str(kind)].load(path)
