"""One-method protocols for each pipeline stage. Implementations register by name in `registry`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from llmpilot.types import Chunk, Document, EmbedKind, Hit, ScoredId


@runtime_checkable
class Chunker(Protocol):
    def split(self, doc: Document) -> list[Chunk]:
        """Chunks of `doc` in order; every chunk satisfies doc.text[c.start:c.end] == c.text."""
        ...


@runtime_checkable
class Embedder(Protocol):
    #: Stable identity of the model and its settings; part of embedding cache keys.
    model_id: str

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str], kind: EmbedKind) -> np.ndarray:
        """float32 array (len(texts), dim), rows L2-normalized. Query/passage prefixes are applied here."""
        ...


@runtime_checkable
class KeywordIndex(Protocol):
    def build(self, ids: Sequence[str], texts: Sequence[str]) -> None: ...

    def search(self, queries: Sequence[str], k: int) -> list[list[ScoredId]]: ...

    def save(self, path: Path) -> None: ...

    def __len__(self) -> int: ...


@runtime_checkable
class VectorIndex(Protocol):
    def build(self, ids: Sequence[str], vectors: np.ndarray) -> None: ...

    def search(self, queries: np.ndarray, k: int) -> list[list[ScoredId]]: ...

    def save(self, path: Path) -> None: ...

    def __len__(self) -> int: ...


@runtime_checkable
class Generator(Protocol):
    #: Human-readable model identity, recorded with every run.
    model_id: str

    def generate(self, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float) -> str: ...

    def stream(
        self, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float
    ) -> Iterator[str]: ...


@runtime_checkable
class SourceAnswerer(Protocol):
    """A generator that answers from the sources themselves rather than from a prompt (the
    extractive answerer): the pipeline hands it the question and the sources numbered 1..n as
    they would appear in the prompt, and it returns the answer with [n] markers."""

    def answer_sources(self, question: str, sources: Sequence[Hit]) -> str: ...
