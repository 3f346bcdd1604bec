"""Typed data passed between pipeline stages. No DataFrames or loose dicts cross module boundaries."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

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
    """A numbered source as shown to a reader: `n` is the number the model saw ([n]).

    `attributed` is True when the citation was assigned by lexical overlap after the fact rather
    than written by the model as [n]; `snippet` is the part of the chunk that matches the question,
    with `highlights` the character spans of the matched terms inside `snippet`."""

    n: int
    doc_id: str
    chunk_id: str
    title: str
    snippet: str
    start: int
    end: int
    score: float
    attributed: bool = False
    highlights: tuple[tuple[int, int], ...] = ()


Lang = Literal["ko", "en"]


@dataclass(frozen=True)
class Usage:
    """Tokens the generator read (the whole prompt) and wrote; zeros when it was not called."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_dict(self) -> dict[str, int]:
        """OpenAI's `usage` object."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


@dataclass
class Answer:
    """What every answer path returns (CLI, /api/ask, /v1, evaluation): made only by
    `answering.Responder`, which applies the answer policy to what the generator wrote."""

    question: str
    lang: Lang
    text: str
    citations: list[Citation]
    #: Every source numbered as the model saw it (1..n): what [n] refers to.
    sources: list[Citation]
    confidence: float
    abstained: bool
    reason: str
    followups: list[str]
    #: Distinct [n] markers dropped: out of range, or not found in the stored document.
    invalid_citations: int = 0
    #: Figures in the answer that no source shown to the model contains.
    unsupported_numbers: list[str] = field(default_factory=list)
    #: Sentences no cited source supports (uncited ones with content included): llmpilot.support.
    unsupported_sentences: list[str] = field(default_factory=list)
    #: Share of the judged sentences that their cited source supports (1.0 when none was judged).
    support: float = 1.0
    #: The generated text of an answer that abstained because no sentence was supported (so a UI
    #: can show it flagged); "" otherwise.
    unsupported_text: str = ""
    #: "extractive" when the generated answer was unsupported and the answer shown quotes the
    #: sources instead (`unsupported_text` holds what the generator wrote); "" otherwise.
    fallback: str = ""
    #: True when the first generated answer was weak and this one comes from the one retry with
    #: the strict prompt (or, when `fallback` is set too, the retry was weak as well).
    retried: bool = False
    #: The policy's raw signals (retrieval, support, figures; each 0-1) that `confidence` is
    #: calibrated from (llmpilot.calibration).
    signals: dict[str, float] = field(default_factory=dict)
    generated: bool = False
    latency_ms: dict[str, float] = field(default_factory=dict)
    #: The query retrieval ran with (the condensed one for a follow-up in a conversation).
    search_query: str = ""
    usage: Usage = field(default_factory=Usage)
    #: "exact" or "semantic" when the answer was served from the answer cache (llmpilot.cache);
    #: "" when it was answered now.
    cached: str = ""
    #: True when a guardrail refused the question or the answer (`reason` says which and why).
    blocked: bool = False
    #: Every cache and guardrail decision on the way (stage, name, outcome, score, latency_ms,
    #: reason, details), in order: what the trace, the API and the chat show.
    decisions: list[dict[str, Any]] = field(default_factory=list)


def answer_to_json(answer: Answer) -> dict[str, Any]:
    """An Answer as plain JSON, complete (what the answer cache stores; `answer_from_json` reads it)."""
    out = asdict(answer)
    for key in ("citations", "sources"):
        for c in out[key]:
            c["highlights"] = [list(span) for span in c["highlights"]]
    return out


def answer_from_json(data: dict[str, Any]) -> Answer:
    def citation(c: dict[str, Any]) -> Citation:
        return Citation(**{**c, "highlights": tuple(tuple(span) for span in c.get("highlights", ()))})

    known = {f.name for f in fields(Answer)}
    values = {k: v for k, v in data.items() if k in known}
    values["citations"] = [citation(c) for c in data.get("citations", [])]
    values["sources"] = [citation(c) for c in data.get("sources", [])]
    values["usage"] = Usage(**data.get("usage", {}))
    return Answer(**values)
