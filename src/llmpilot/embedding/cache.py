"""Embeds through the store's cache: a (model, text hash) pair is embedded once, ever."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from llmpilot.progress import Task
from llmpilot.protocols import Embedder
from llmpilot.store.db import Store


@dataclass
class CacheStats:
    hits: int = 0
    embedded: int = 0


class CachedEmbedder:
    """Passages go through the store's cache; queries are embedded directly (they are rarely repeated)."""

    def __init__(self, embedder: Embedder, store: Store, *, batch_size: int = 64) -> None:
        self.embedder = embedder
        self.store = store
        self.batch_size = batch_size
        self.stats = CacheStats()

    @property
    def dim(self) -> int:
        return self.embedder.dim

    def ensure(
        self,
        texts: Sequence[str],
        hashes: Sequence[str],
        task: Task | None = None,
    ) -> int:
        """Embed and cache every text not cached yet, committing per batch (a kill loses one batch)."""
        cached = self.store.cached_embeddings(self.embedder.model_id, hashes)
        todo: dict[str, str] = {}
        for text, h in zip(texts, hashes, strict=True):
            if h not in cached and h not in todo:
                todo[h] = text
        self.stats.hits += len(texts) - len(todo)
        items = list(todo.items())
        if task is not None:
            task.grow(len(items))
        batches = [items[i : i + self.batch_size] for i in range(0, len(items), self.batch_size)]
        computed = self.passage_vectors([[t for _, t in batch] for batch in batches])
        for batch, vectors in zip(batches, computed, strict=True):
            self.store.put_embeddings(
                self.embedder.model_id, {h: v for (h, _), v in zip(batch, vectors, strict=True)}
            )
            self.stats.embedded += len(batch)
            if task is not None:
                task.advance(len(batch))
        return len(items)

    def passage_vectors(self, batches: Sequence[Sequence[str]]) -> Iterator[np.ndarray]:
        """The vectors of each batch, in order, one batch at a time (the Ray executor overrides this
        to embed batches in parallel on its workers)."""
        for texts in batches:
            yield self.embedder.embed(list(texts), "passage")

    def passages(self, texts: Sequence[str], hashes: Sequence[str]) -> np.ndarray:
        self.ensure(texts, hashes)
        cached = self.store.cached_embeddings(self.embedder.model_id, hashes)
        if not hashes:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        return np.stack([cached[h] for h in hashes]).astype(np.float32, copy=False)
