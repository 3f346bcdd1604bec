"""Typed data passed between pipeline stages. No DataFrames or loose dicts cross module boundaries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

EmbedKind = Literal["query", "passage"]


@dataclass(frozen=True)
class Document:
    """One source document, after loading and transforms.

    `id` is stable across re-ingests of the same source (a relative file path, a CSV row
    key, a SQL id column value), so incremental ingest can detect changes by content hash.
    """

    id: str
    text: str
    title: str = ""
    source: str = ""
    language: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Chunk:
    """A span of a document: `text == document.text[start:end]` always holds."""

    id: str
    doc_id: str
    text: str
    start: int
    end: int
    index: int


@dataclass(frozen=True)
class ScoredId:
    """A ranked result from an index: the id of what was indexed (a chunk id) and its score."""

    id: str
    score: float


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its fused score and the per-retriever scores that produced it."""

    chunk: Chunk
    score: float
    rank: int
    scores: dict[str, float] = field(default_factory=dict)
    title: str = ""


@dataclass(frozen=True)
class Citation:
    n: int
    doc_id: str
    chunk_id: str
    title: str
    snippet: str
    start: int
    end: int
    score: float


@dataclass(frozen=True)
class Answer:
    text: str
    citations: list[Citation]
    hits: list[Hit]
    confidence: float
    abstained: bool = False
    reason: str = ""
