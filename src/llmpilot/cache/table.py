"""In-memory cosine search over L2-normalised float32 vectors (the semantic cache's candidates).

An exact scan, not an ANN index: at the cache's size (10k entries per scope by default) one
matrix-vector product takes well under a millisecond, and an exact scan has no recall to tune.
Rows live in one preallocated matrix that doubles when full (amortised O(1) `add`); `remove`
moves the last row into the hole, so the live rows stay contiguous and the scan never sees a gap.
"""

from __future__ import annotations

import numpy as np

_INITIAL_CAPACITY = 64


def unit(vec: np.ndarray) -> np.ndarray:
    """`vec` as a flat float32 unit vector (a zero vector stays zero)."""
    arr = np.asarray(vec, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(arr))
    # Callers pass normalised vectors; re-normalising keeps a cosine a dot product regardless.
    return arr / np.float32(norm) if norm > 0 else arr


class VectorTable:
    """Entry id -> vector; `search` returns the k most cosine-similar ids, best first."""

    def __init__(self, dim: int | None = None) -> None:
        self._dim = dim
        self._matrix = np.zeros((0, dim or 0), dtype=np.float32)
        self._ids: list[str] = []
        self._rows: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._rows

    @property
    def dim(self) -> int | None:
        return self._dim

    def _as_vector(self, vec: np.ndarray) -> np.ndarray:
        arr = unit(vec)
        if self._dim is None:
            self._dim = int(arr.shape[0])
            self._matrix = np.zeros((0, self._dim), dtype=np.float32)
        if arr.shape[0] != self._dim:
            raise ValueError(f"vector of dimension {arr.shape[0]}, the table holds dimension {self._dim}")
        return arr

    def add(self, entry_id: str, vec: np.ndarray) -> None:
        """Insert or replace `entry_id`'s vector."""
        row = self._as_vector(vec)
        if entry_id in self._rows:
            self._matrix[self._rows[entry_id]] = row
            return
        n = len(self._ids)
        if n == self._matrix.shape[0]:
            grown = np.zeros((max(_INITIAL_CAPACITY, 2 * n), row.shape[0]), dtype=np.float32)
            grown[:n] = self._matrix[:n]
            self._matrix = grown
        self._matrix[n] = row
        self._ids.append(entry_id)
        self._rows[entry_id] = n

    def remove(self, entry_id: str) -> bool:
        """Drop `entry_id`; False when it was not there."""
        row = self._rows.pop(entry_id, None)
        if row is None:
            return False
        last = len(self._ids) - 1
        if row != last:
            moved = self._ids[last]
            self._matrix[row] = self._matrix[last]
            self._ids[row] = moved
            self._rows[moved] = row
        self._ids.pop()
        return True

    def search(self, vec: np.ndarray, k: int) -> list[tuple[str, float]]:
        """The k nearest ids by cosine, best first (ties: the lower row first)."""
        n = len(self._ids)
        if n == 0 or k <= 0:
            return []
        query = self._as_vector(vec)
        scores = self._matrix[:n] @ query
        return [(self._ids[i], float(scores[i])) for i in top_k(scores, k)]


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores, best first; ties go to the lower index (so the result does
    not depend on how argpartition happens to break them)."""
    n = scores.shape[0]
    if k < n:
        kth = np.partition(scores, n - k)[n - k]
        pool = np.flatnonzero(scores >= kth)
    else:
        pool = np.arange(n)
    return pool[np.lexsort((pool, -scores[pool]))][:k]
