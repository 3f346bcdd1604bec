"""A runnable pipeline built from a project's config: search, and answers with citations."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from llmpilot import factory
from llmpilot.generation.prompting import PromptTemplate, load_template, messages_for_generator
from llmpilot.indexing import IndexSet, open_indexes
from llmpilot.ingest import needs_embeddings
from llmpilot.project import Project
from llmpilot.protocols import Embedder, Generator, SourceAnswerer
from llmpilot.retrieval.retriever import Retriever
from llmpilot.types import Answer, Hit

#: The prompt's source fences (prompting.fence): small models echo them, and the prompt after them.
PROMPT_ECHO = ("<source", "</source")


def cut_prompt_echo(text: str) -> str:
    """A whole generated text cut where it starts echoing the prompt's source fences (what the
    stream's stop strings do while streaming)."""
    cuts = [i for i in (text.find(tag) for tag in PROMPT_ECHO) if i >= 0]
    return text[: min(cuts)] if cuts else text


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


@dataclass(frozen=True)
class Sampling:
    """Per-request generation settings; None = the config's value. `stop` strings end the answer
    (the stop string itself is not part of it)."""

    max_tokens: int | None = None
    temperature: float | None = None
    stop: tuple[str, ...] = ()


class AnswerStream:
    """Generation in flight. Iterate for text deltas; `sources` (the hits numbered as the model saw
    them) are known before the first delta. `close()` stops generation and releases the generator
    (a llama.cpp model is locked while a stream is open): call it when the reader goes away."""

    def __init__(
        self,
        question: str,
        sources: list[Hit],
        deltas: Iterator[str],
        *,
        stop: Sequence[str] = (),
        prompt_tokens: int = 0,
        count_tokens: Callable[[str], int] | None = None,
        from_model: bool = True,
        sampling: Sampling | None = None,
    ) -> None:
        self.question = question
        #: False when a source-quoting answerer (no LLM) wrote it: a retry would say the same.
        self.from_model = from_model
        self.sampling = sampling or Sampling()
        self.sources = sources
        self._deltas = deltas
        self._stop = [s for s in stop if s]
        self._parts: list[str] = []
        self._emitted = 0
        self._chunks = 0
        self._cancelled = threading.Event()
        self.prompt_tokens = prompt_tokens
        self._count_tokens = count_tokens
        self.done = False

    def __iter__(self) -> Iterator[str]:
        try:
            for delta in self._deltas:
                if self._cancelled.is_set():
                    break
                self._chunks += 1
                self._parts.append(delta)
                text = "".join(self._parts)
                cut = self._stop_at(text)
                if cut is not None:
                    self._parts = [text[:cut]]
                    if cut > self._emitted:
                        yield text[self._emitted : cut]
                    self._emitted = cut
                    break
                # Hold back a tail that could be the start of a stop string.
                safe = len(text) - self._held_back(text)
                if safe > self._emitted:
                    yield text[self._emitted : safe]
                    self._emitted = safe
            else:
                text = "".join(self._parts)
                if len(text) > self._emitted:
                    yield text[self._emitted :]
                    self._emitted = len(text)
            self.done = True
        finally:
            self.close()

    def _stop_at(self, text: str) -> int | None:
        hits = [i for i in (text.find(s) for s in self._stop) if i >= 0]
        return min(hits) if hits else None

    def _held_back(self, text: str) -> int:
        longest = 0
        for stop in self._stop:
            for n in range(min(len(stop) - 1, len(text)), 0, -1):
                if text.endswith(stop[:n]):
                    longest = max(longest, n)
                    break
        return longest

    def cancel(self) -> None:
        """Ask the stream to stop at the next delta (thread-safe; `close()` must still run)."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def close(self) -> None:
        close = getattr(self._deltas, "close", None)
        if close is not None:
            close()

    @property
    def text(self) -> str:
        return "".join(self._parts).strip()

    @property
    def completion_tokens(self) -> int:
        if self._count_tokens is not None and self._parts:
            return self._count_tokens("".join(self._parts))
        return self._chunks  # streamed chunks: one token each for llama.cpp and most servers


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
            self._embedder = factory.embedder(self.cfg.embedder)
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
            # model_path is already absolute: the project resolved it when it loaded the config.
            self._generator = factory.generator(self.cfg.generator)
        return self._generator

    @property
    def template(self) -> PromptTemplate:
        if self._template is None:
            self._template = load_template(self.cfg.prompt.template, self.project.root)
        return self._template

    def search(self, query: str, k: int | None = None, *, vector: np.ndarray | None = None) -> list[Hit]:
        """`vector`: the query's embedding when the caller computed it already."""
        return self.retriever.retrieve(query, k, vector=vector)

    def search_many(self, queries: Sequence[str], k: int | None = None) -> list[list[Hit]]:
        return self.retriever.retrieve_many(queries, k)

    def stream(
        self,
        question: str,
        k: int | None = None,
        *,
        hits: Sequence[Hit] | None = None,
        sampling: Sampling | None = None,
        template: PromptTemplate | None = None,
    ) -> AnswerStream:
        """Retrieve (unless `hits` were retrieved already, e.g. to decide on abstention) and start
        generating, with the project's prompt template unless `template` is given. Raw generation
        only: `answering.Responder` turns it into an answer."""
        hits = self.search(question, k) if hits is None else list(hits)
        sampling = sampling or Sampling()
        gen_cfg = self.cfg.generator
        max_tokens = gen_cfg.max_tokens if sampling.max_tokens is None else sampling.max_tokens
        temperature = gen_cfg.temperature if sampling.temperature is None else sampling.temperature
        generator = self.generator
        messages, used = messages_for_generator(
            generator,
            template or self.template,
            question,
            hits,
            self.cfg.prompt.max_context_chars,
            max_tokens,
        )
        count = getattr(generator, "count_tokens", None)
        count_tokens = count if callable(count) else None
        from_model = not isinstance(generator, SourceAnswerer)
        if isinstance(generator, SourceAnswerer):  # answers from the sources: reads no prompt
            deltas: Iterator[str] = iter([generator.answer_sources(question, used)])
            prompt_tokens = 0
        else:
            prompt_text = "\n".join(m["content"] for m in messages)
            prompt_tokens = count_tokens(prompt_text) if count_tokens else estimate_tokens(prompt_text)
            deltas = iter(generator.stream(messages, max_tokens=max_tokens, temperature=temperature))
        return AnswerStream(
            question,
            used,
            deltas,
            # A model that writes a source tag is echoing the prompt: nothing after it is an answer.
            stop=[*sampling.stop, *PROMPT_ECHO] if from_model else sampling.stop,
            prompt_tokens=prompt_tokens,
            count_tokens=count_tokens,
            from_model=from_model,
            sampling=sampling,
        )

    def ask(self, question: str, k: int | None = None) -> Answer:
        """The answer with the project's answer policy (what `llmpilot ask` and the server give)."""
        from llmpilot.answering import Responder

        return Responder(self).ask(question, k=k)


def estimate_tokens(text: str) -> int:
    """A token count for generators that expose no tokenizer (remote endpoints): about four
    characters per token for English, one to two per Hangul syllable."""
    hangul = sum(1 for ch in text if "\uac00" <= ch <= "\ud7a3")
    return max(1, round(hangul * 0.8 + (len(text) - hangul) / 4)) if text else 0
