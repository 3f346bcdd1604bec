"""A model-free embedder: character n-gram feature hashing (like scikit-learn's HashingVectorizer).

Instant and deterministic, works for any script; a lexical baseline and the embedder of choice
for fast tests of pipeline logic. Not a semantic model: use e5-small or minilm for meaning.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from llmpilot import registry
from llmpilot.config import EmbedderConfig
from llmpilot.embedding.normalize import check_kind
from llmpilot.types import EmbedKind


class HashingEmbedder:
    def __init__(self, dim: int = 256, ngram: int = 3) -> None:
        self.dim = dim
        self.ngram = ngram
        self.model_id = f"hashing/char{ngram}-d{dim}"
        self.calls = 0  # texts embedded so far; tests use it to check the cache

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        padded = f" {' '.join(text.lower().split())} "
        for i in range(max(1, len(padded) - self.ngram + 1)):
            gram = padded[i : i + self.ngram]
            digest = hashlib.blake2b(gram.encode("utf-8"), digest_size=8).digest()
            h = int.from_bytes(digest, "little")
            v[h % self.dim] += 1.0 if (h >> 63) & 1 else -1.0
        norm = float(np.linalg.norm(v))
        return v / norm if norm > 0 else v

    def embed(self, texts: Sequence[str], kind: EmbedKind) -> np.ndarray:
        check_kind(kind)  # symmetric, but a typo'd kind is a bug in the caller all the same
        self.calls += len(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vector(t) for t in texts])


@registry.embedders.register("hashing")
def _create(cfg: EmbedderConfig) -> HashingEmbedder:
    return HashingEmbedder()
