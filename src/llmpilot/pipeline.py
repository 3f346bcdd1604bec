"""A runnable pipeline built from a project's config: search, and answers with citations."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

from llmpilot import registry
from llmpilot.generation.prompting import (
    PromptTemplate,
    build_citations,
    load_template,
    messages_for_generator,
)
from llmpilot.indexing import IndexSet, open_indexes
from llmpilot.ingest import make_embedder, needs_embeddings
from llmpilot.project import Project
from llmpilot.protocols import Embedder, Generator
from llmpilot.retrieval.retriever import Retriever
from llmpilot.types import Answer, Hit


def retrieval_confidence(hits: Sequence[Hit]) -> float:
    """A 0-1 support signal from retrieval: the best dense cosine when there is one, else a
    squashed BM25 score. A heuristic to rank answers, not a calibrated probability."""
    if not hits:
        return 0.0
    dense = [h.scores["dense"] for h in hits if "dense" in h.scores]
    if dense:
        return float(min(1.0, max(0.0, max(dense))))
    keyword = max(h.scores.get("keyword", 0.0) for h in hits)
    return float(1.0 - math.exp(-keyword / 10.0))


class AnswerStream:
    """Iterate for text deltas; `sources` is known before the first delta, `answer()` after the last."""

    def __init__(self, question: str, sources: list[Hit], deltas: Iterator[str], confidence: float) -> None:
        self.question = question
        self.sources = sources
        self._deltas = deltas
        self._parts: list[str] = []
        self._confidence = confidence
        self._done = False

    def __iter__(self) -> Iterator[str]:
        for delta in self._deltas:
            self._parts.append(delta)
            yield delta
        self._done = True

    def answer(self) -> Answer:
        if not self._done:
            for _ in self:
                pass
        text = "".join(self._parts).strip()
        return Answer(
            text=text,
            citations=build_citations(text, self.sources),
            hits=self.sources,
            confidence=self._confidence,
        )


class Pipeline:
    def __init__(
        self,
        project: Project,
        *,
        embedder: Embedder | None = None,
        generator: Generator | None = None,
        progress: bool = False,
    ) -> None:
        self.project = project
        self.cfg = project.config
        self.progress = progress
        self._embedder = embedder
        self._generator = generator
        self._indexes: IndexSet | None = None
        self._retriever: Retriever | None = None
        self._template: PromptTemplate | None = None

    @property
    def embedder(self) -> Embedder | None:
        if self._embedder is None and needs_embeddings(self.cfg):
            self._embedder = make_embedder(self.cfg)
        return self._embedder

    @property
    def indexes(self) -> IndexSet:
        if self._indexes is None:
            self._indexes = open_indexes(
                self.project,
                need_vector=needs_embeddings(self.cfg),
                embedder=self.embedder,
                progress=self.progress,
            )
        return self._indexes

    @property
    def retriever(self) -> Retriever:
        if self._retriever is None:
            self._retriever = Retriever(self.cfg.retrieval, self.indexes, self.embedder)
        return self._retriever

    @property
    def generator(self) -> Generator:
        if self._generator is None:
            gen_cfg = self.cfg.generator
            if gen_cfg.model_path:
                gen_cfg = gen_cfg.model_copy(
                    update={"model_path": str(self.project.resolve(gen_cfg.model_path))}
                )
            self._generator = registry.generators.get(gen_cfg.name)(gen_cfg)
        return self._generator

    @property
    def template(self) -> PromptTemplate:
        if self._template is None:
            self._template = load_template(self.cfg.prompt.template, self.project.root)
        return self._template

    def search(self, query: str, k: int | None = None) -> list[Hit]:
        return self.retriever.retrieve(query, k)

    def search_many(self, queries: Sequence[str], k: int | None = None) -> list[list[Hit]]:
        return self.retriever.retrieve_many(queries, k)

    def stream(
        self, question: str, k: int | None = None, *, hits: Sequence[Hit] | None = None
    ) -> AnswerStream:
        """Retrieve (unless `hits` were retrieved already, e.g. to decide on abstention) and generate."""
        hits = self.search(question, k) if hits is None else list(hits)
        gen_cfg = self.cfg.generator
        generator = self.generator
        messages, used = messages_for_generator(
            generator, self.template, question, hits, self.cfg.prompt.max_context_chars, gen_cfg.max_tokens
        )
        deltas = generator.stream(messages, max_tokens=gen_cfg.max_tokens, temperature=gen_cfg.temperature)
        return AnswerStream(question, used, iter(deltas), retrieval_confidence(used))

    def ask(self, question: str, k: int | None = None) -> Answer:
        return self.stream(question, k).answer()
