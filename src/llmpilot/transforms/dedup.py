"""Exact and near-duplicate detection across documents.

Exact: sha256 of the whitespace-normalized text. Near: MinHash over character shingles of the
text with all whitespace removed (so it works for Korean without word splitting and ignores
spacing differences, which are common in Korean), LSH banding to find candidates, then the
estimated Jaccard similarity confirms them.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections import defaultdict

import numpy as np

#: Characters per shingle. 4 Hangul syllables are about a word and a half; short enough that a
#: few edited words in a paragraph keep the similarity high, long enough that unrelated texts
#: share few shingles.
SHINGLE = 4
NUM_PERM = 128
#: Texts with fewer non-space characters than this are only checked for exact duplicates: two
#: short FAQ answers that differ by one word are different answers, not near-duplicates.
MIN_NEAR_CHARS = 50

_MERSENNE = np.uint64((1 << 61) - 1)
_MASK32 = np.uint64(0xFFFFFFFF)
_BLOCK = 4096  # shingles hashed per block, bounding memory to _BLOCK x NUM_PERM


def exact_key(text: str) -> str:
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()


def _shingle_hashes(text: str) -> np.ndarray:
    """Unique 32-bit hashes of the character shingles of `text` (whitespace removed, casefolded)."""
    compact = "".join(unicodedata.normalize("NFC", text).casefold().split())
    codes = np.frombuffer(compact.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if len(codes) < SHINGLE:
        codes = np.concatenate([codes, np.zeros(SHINGLE - len(codes), dtype=np.uint64)])
    n = len(codes) - SHINGLE + 1
    # Polynomial rolling hash in wrapping uint64 arithmetic, vectorized over positions.
    h = np.zeros(n, dtype=np.uint64)
    base = np.uint64(1_000_003)
    with np.errstate(over="ignore"):
        for j in range(SHINGLE):
            h = h * base + codes[j : j + n]
        h ^= h >> np.uint64(29)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(32)
    return np.unique(h & _MASK32)


class MinHasher:
    def __init__(self, num_perm: int = NUM_PERM, seed: int = 1) -> None:
        rng = np.random.default_rng(seed)
        self.num_perm = num_perm
        self._a = rng.integers(1, 1 << 32, size=num_perm, dtype=np.uint64)
        self._b = rng.integers(0, 1 << 32, size=num_perm, dtype=np.uint64)

    def signature(self, text: str) -> np.ndarray:
        """uint32 array (num_perm,): the minimum of each permuted shingle hash."""
        hashes = _shingle_hashes(text)
        sig = np.full(self.num_perm, 0xFFFFFFFF, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for i in range(0, len(hashes), _BLOCK):
                block = hashes[i : i + _BLOCK, None]
                permuted = ((block * self._a + self._b) % _MERSENNE) & _MASK32
                np.minimum(sig, permuted.min(axis=0), out=sig)
        return sig.astype(np.uint32)


def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) minimizing weighted false-negative/positive probability mass around
    `threshold`. Misses weigh far more: a candidate costs one signature comparison, a miss is lost
    (at 0.9 this gives 10 bands of 12 rows: a pair at similarity 0.9 becomes a candidate 96% of the time)."""
    xs = np.linspace(0.0, 1.0, 201)
    dx = float(xs[1] - xs[0])
    best = (num_perm, 1)
    best_cost = float("inf")
    for bands in range(1, num_perm + 1):
        rows = num_perm // bands
        p = 1.0 - (1.0 - xs**rows) ** bands  # probability of becoming a candidate at similarity xs
        fp = float(np.sum(p[xs < threshold])) * dx
        fn = float(np.sum(1.0 - p[xs >= threshold])) * dx
        cost = 0.02 * fp + 0.98 * fn
        if cost < best_cost:
            best, best_cost = (bands, rows), cost
    return best


class Deduplicator:
    """Remembers added documents and tells whether a new text duplicates one of them."""

    def __init__(self, *, exact: bool, near: bool, threshold: float) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"near-duplicate threshold must be in (0, 1], got {threshold}")
        self.exact = exact
        self.near = near
        self.threshold = threshold
        self._minhash = MinHasher()
        self._bands, self._rows = lsh_params(threshold, NUM_PERM)
        self._order: dict[str, int] = {}  # doc id -> insertion counter, for stable tie-breaking
        self._counter = 0
        self._exact_ids: dict[str, dict[str, None]] = defaultdict(dict)  # hash -> ids (ordered set)
        self._exact_of: dict[str, str] = {}
        self._signatures: dict[str, np.ndarray] = {}
        self._buckets: list[dict[bytes, set[str]]] = [defaultdict(set) for _ in range(self._bands)]

    def __len__(self) -> int:
        return len(self._order)

    def add(self, doc_id: str, text: str) -> None:
        if doc_id in self._order:
            self.remove(doc_id)
        self._order[doc_id] = self._counter
        self._counter += 1
        if self.exact:
            key = exact_key(text)
            self._exact_ids[key][doc_id] = None
            self._exact_of[doc_id] = key
        sig = self._near_signature(text)
        if sig is not None:
            self._signatures[doc_id] = sig
            for band, bucket in zip(self._band_keys(sig), self._buckets, strict=True):
                bucket[band].add(doc_id)

    def remove(self, doc_id: str) -> None:
        if self._order.pop(doc_id, None) is None:
            return
        key = self._exact_of.pop(doc_id, None)
        if key is not None:
            ids = self._exact_ids[key]
            ids.pop(doc_id, None)
            if not ids:
                del self._exact_ids[key]
        sig = self._signatures.pop(doc_id, None)
        if sig is not None:
            for band, bucket in zip(self._band_keys(sig), self._buckets, strict=True):
                members = bucket.get(band)
                if members is not None:
                    members.discard(doc_id)
                    if not members:
                        del bucket[band]

    def find_duplicate(self, text: str) -> str | None:
        """Id of an added document that `text` duplicates (exactly, or with estimated Jaccard
        similarity >= threshold), preferring exact matches, then the most similar, then the
        earliest added."""
        if self.exact:
            ids = self._exact_ids.get(exact_key(text))
            if ids:
                return next(iter(ids))
        sig = self._near_signature(text)
        if sig is None:
            return None
        candidates: set[str] = set()
        for band, bucket in zip(self._band_keys(sig), self._buckets, strict=True):
            members = bucket.get(band)
            if members:
                candidates |= members
        best: tuple[float, int, str] | None = None
        for cand in candidates:
            similarity = float(np.mean(self._signatures[cand] == sig))
            if similarity >= self.threshold:
                rank = (-similarity, self._order[cand], cand)
                if best is None or rank < best:
                    best = rank
        return None if best is None else best[2]

    def _near_signature(self, text: str) -> np.ndarray | None:
        if not self.near or len("".join(text.split())) < MIN_NEAR_CHARS:
            return None
        return self._minhash.signature(text)

    def _band_keys(self, sig: np.ndarray) -> list[bytes]:
        r = self._rows
        return [sig[i * r : (i + 1) * r].tobytes() for i in range(self._bands)]
