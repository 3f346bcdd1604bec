"""The answer policy of a served pipeline ("defensive UX"), usable without HTTP.

- Abstain: when retrieval support (`retrieval_confidence`) is under `answer.abstain_below` (unless
  the question names a code a retrieved source holds), or the question names a code no retrieved
  source holds, say so in the question's language, *without* calling the generator.
- Verify citations: a marker [n] counts only if source n was retrieved (and shown to the model) and
  its chunk is found in the stored document text at [start:end]; other markers are removed from the
  text and counted.
- Attribute: small models rarely write [n]; then each answer sentence without a marker is matched to
  the source that holds most of its tokens (Korean-aware tokenizer) and that source is cited with
  `attributed=True` when it supports the sentence (llmpilot.support).
- Follow-ups: questions taken from retrieved sources the answer did not use (an FAQ row's own
  question, else a heading or the document title), so no extra LLM call is needed.
- Check figures: numbers the answer states that no source shown to the model contains are listed
  (`unsupported_numbers`) and scale the confidence down by the share of figures that are
  supported: an invented "3 years" next to a source saying "10 years" is the typical (and most
  harmful) small-model error, and retrieval support alone cannot see it.
- Check sentences (llmpilot.support): each sentence must be supported by the source it cites (or
  that attribution finds for it) — enough shared content tokens, and its figures and codes in that
  source. Citations that support none of their sentences are dropped; confidence is scaled by the
  share of supported sentences; an answer with no supported sentence abstains, its text kept in
  `unsupported_text`.
- Weak answers (nothing supported, mostly unsupported, nothing checkable, or the checks pulled the
  score under the threshold) are generated once more with the strict prompt (`answer.retry`), then
  replaced by the extractive answer from the same sources, labelled as quoted (`answer.fallback`).
- Confidence: a shown generated answer's `confidence` is the calibrated probability that it is
  correct (llmpilot.calibration), from the signals above.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from llmpilot.config import AnswerConfig
from llmpilot.generation.prompting import builtin_template
from llmpilot.index.tokenizers import is_korean
from llmpilot.pipeline import AnswerStream, Pipeline, Sampling, retrieval_confidence
from llmpilot.snippets import Snippet, focus_snippet
from llmpilot.types import Answer, Citation, Hit, Lang, Usage

if TYPE_CHECKING:
    from llmpilot.cache.service import AnswerCache
    from llmpilot.guardrails import Guardrails
    from llmpilot.protocols import Embedder

#: doc ids -> stored document text (the store of record), to verify citations against.
TextLookup = Callable[[Sequence[str]], dict[str, str]]
Tokenize = Callable[[Sequence[str]], list[list[str]]]
#: Generates once more with the strict prompt: the text, and the sources numbered as it saw them.
StrictRetry = Callable[[], tuple[str, Sequence[Hit]]]

_MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_SENTENCE_END = re.compile(r"(?<=[.!?。？！])\s+|\n+")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$", re.MULTILINE)
_FAQ_QUESTION = re.compile(r"^\s*(?:question|q|질문)\s*[:：]\s*(.+?[?？])\s*$", re.IGNORECASE | re.MULTILINE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
#: Units whose number must appear *with* the unit in a source: "3 years" is not supported by a
#: source that says "10 years" and, elsewhere, "version 3".
UNITS = {
    "year": "year",
    "years": "year",
    "yr": "year",
    "yrs": "year",
    "month": "month",
    "months": "month",
    "week": "week",
    "weeks": "week",
    "day": "day",
    "days": "day",
    "hour": "hour",
    "hours": "hour",
    "minute": "minute",
    "minutes": "minute",
    "min": "minute",
    "second": "second",
    "seconds": "second",
    "cycle": "cycle",
    "cycles": "cycle",
    "percent": "%",
    "%": "%",
    "kwh": "kwh",
    "kw": "kw",
    "w": "w",
    "v": "v",
    "km": "km",
    "kg": "kg",
    "won": "won",
    "usd": "usd",
    "eur": "eur",
    "년": "년",
    "개월": "개월",
    "주": "주",
    "일": "일",
    "시간": "시간",
    "분": "분",
    "초": "초",
    "회": "회",
    "원": "원",
    "만원": "만원",
    "퍼센트": "%",
}
#: "1. ", "2) " at a line start: list numbering, not a figure.
_ENUMERATOR = re.compile(r"^\s*\d+[.)]\s", re.MULTILINE)
#: A generated answer with a smaller share of supported sentences (or none that can be checked) is
#: replaced by the extractive answer when the sources hold one (`answer.fallback: extractive`).
MIN_ANSWER_SUPPORT = 0.5
#: The built-in prompt of the one retry a weak generated answer gets (`answer.retry`).
STRICT_TEMPLATE = "extractive"
#: Sentences shorter than this (in tokens) carry too little to attribute ("Yes.", "네.").
MIN_ATTRIBUTION_TOKENS = 3

MESSAGES: dict[str, dict[Lang, str]] = {
    "abstain": {
        "ko": "죄송합니다. 문서에서 이 질문에 답할 근거를 찾지 못했습니다. "
        "문서가 다루는 내용으로 다시 질문해 주세요.",
        "en": "Sorry, the documents do not seem to cover this question, so I won't guess. "
        "Try rephrasing it or ask about something the documents cover.",
    },
    "low_support": {
        "ko": "검색된 문서의 근거가 약합니다 (신뢰도 {confidence:.3f} < 기준 {threshold:.3f}).",
        "en": "The retrieved passages give weak support (confidence {confidence:.3f} "
        "below the threshold {threshold:.3f}).",
    },
    "unknown_code": {
        "ko": "검색된 문서 어디에도 {codes}이(가) 나오지 않습니다.",
        "en": "None of the retrieved passages mentions {codes}.",
    },
    "no_sources": {
        "ko": "검색된 문서가 없습니다.",
        "en": "No passage was retrieved.",
    },
    "empty_answer": {
        "ko": "모델이 빈 답변을 만들었습니다.",
        "en": "The model produced an empty answer.",
    },
    "blocked": {
        "ko": "이 요청은 서비스 정책에 따라 처리할 수 없습니다.",
        "en": "This request cannot be processed under the service's policy.",
    },
    "unsupported": {
        "ko": "생성된 답변이 출처 문서로 뒷받침되지 않습니다.",
        "en": "The answer is not supported by the sources.",
    },
    "quoted": {
        "ko": "모델의 답변이 출처로 뒷받침되지 않아, 질문에 답하는 출처 문장을 그대로 인용했습니다.",
        "en": "The model's answer was not supported by the sources, so these are the sources' own "
        "sentences that answer the question.",
    },
    "followup": {
        "ko": "{topic}에 대해 더 알려 주세요.",
        "en": "Tell me more about {topic}.",
    },
}


#: One citation type and one answer type for every path (kept under their serving-era names too).
SourceCitation = Citation
DefendedAnswer = Answer


def citation_dict(c: Citation) -> dict[str, object]:
    """A citation as JSON (the API's and `ask --json`'s shape)."""
    out = asdict(c)
    out.pop("chunk_id", None)  # internal id; doc_id + [start:end] locate the passage
    out["highlights"] = [list(span) for span in c.highlights]
    return out


def answer_dict(answer: Answer) -> dict[str, object]:
    """An answer as JSON: the /api/ask response body (less its trace id) and `llmpilot ask --json`."""
    return {
        "answer": answer.text,
        "citations": [citation_dict(c) for c in answer.citations],
        "confidence": max(0.0, min(1.0, float(answer.confidence))),
        "abstained": answer.abstained,
        "reason": answer.reason,
        "followups": answer.followups,
        "sources": [citation_dict(c) for c in answer.sources],
        "invalid_citations": answer.invalid_citations,
        "unsupported_numbers": answer.unsupported_numbers,
        "unsupported_sentences": answer.unsupported_sentences,
        "support": answer.support,
        "unsupported_text": answer.unsupported_text,
        "lang": answer.lang,
        "latency_ms": answer.latency_ms,
        "search_query": answer.search_query,
        "fallback": answer.fallback,
        "retried": answer.retried,
        "usage": answer.usage.as_dict(),
        "cached": answer.cached,
        "blocked": answer.blocked,
        "decisions": answer.decisions,
    }


def question_language(question: str, override: str | None = None) -> Lang:
    if override in ("ko", "en"):
        return override  # type: ignore[return-value]
    return "ko" if is_korean(question) else "en"


def message(key: str, lang: Lang, **values: object) -> str:
    return MESSAGES[key][lang].format(**values)


#: Characters of a chunk shown with a citation (the part that matches the question).
SNIPPET_CHARS = 240


@lru_cache(maxsize=4096)
def focused_snippet(text: str, query: str) -> Snippet:
    """The part of a chunk that matches the question (cached: a run's sources are shown several
    times — meta event, trace, final answer — and Korean term matching costs milliseconds)."""
    return focus_snippet(text, query, width=SNIPPET_CHARS)


def source_citation(n: int, hit: Hit, attributed: bool = False, *, query: str = "") -> Citation:
    shown = focused_snippet(hit.chunk.text, query)
    return Citation(
        n=n,
        doc_id=hit.chunk.doc_id,
        chunk_id=hit.chunk.id,
        title=hit.title,
        snippet=shown.text,
        start=hit.chunk.start,
        end=hit.chunk.end,
        score=float(hit.score),
        attributed=attributed,
        highlights=tuple(shown.highlights),
    )


# --- citation verification -------------------------------------------------------------------


def cited_markers(text: str) -> list[int]:
    """Every number written as [n], [n, m] or [n][m], in order of first use (out-of-range ones too)."""
    found: list[int] = []
    for match in _MARKER.finditer(text):
        for part in re.split(r"[,;]", match.group(1)):
            n = int(part)
            if n not in found:
                found.append(n)
    return found


def _normalize(text: str) -> str:
    return " ".join(text.split())


def source_is_verifiable(hit: Hit, texts: dict[str, str]) -> bool:
    """The chunk is in the stored document at [start:end]."""
    doc = texts.get(hit.chunk.doc_id)
    if doc is None:
        return False
    # The served snippet is a window of the chunk (`focused_snippet`), so it is part of the
    # document whenever the chunk is.
    return doc[hit.chunk.start : hit.chunk.end] == hit.chunk.text


def strip_markers(text: str, drop: set[int]) -> str:
    """Remove the numbers in `drop` from [n] markers ("[1, 7]" -> "[1]", "[7]" -> "")."""
    if not drop:
        return text

    def keep(match: re.Match[str]) -> str:
        parts = [p.strip() for p in re.split(r"[,;]", match.group(1))]
        kept = [p for p in parts if int(p) not in drop]
        return f"[{', '.join(kept)}]" if kept else ""

    out = _MARKER.sub(keep, text)
    return re.sub(r"[ \t]+([.,!?;:])", r"\1", re.sub(r"[ \t]{2,}", " ", out)).strip()


def verify_citations(
    text: str, sources: Sequence[Hit], texts: dict[str, str], *, query: str = ""
) -> tuple[str, list[Citation], int]:
    """(text with invalid markers removed, valid citations in order of use, number of invalid ones)."""
    valid: list[SourceCitation] = []
    invalid: set[int] = set()
    for n in cited_markers(text):
        if 1 <= n <= len(sources) and source_is_verifiable(sources[n - 1], texts):
            valid.append(source_citation(n, sources[n - 1], query=query))
        else:
            invalid.add(n)
    return strip_markers(text, invalid), valid, len(invalid)


# --- figures ----------------------------------------------------------------------------------


def _figure(token: str) -> str:
    """'6,000' and '6000' are the same figure."""
    return re.sub(r"(?<=\d),(?=\d{3}\b)", "", token)


def _unit(word: str) -> str | None:
    word = word.lower()
    unit = UNITS.get(word)
    if unit is None and word[:1] >= "가":  # Korean: a unit followed by a particle ("10년간", "3일에")
        unit = next((UNITS[u] for u in sorted(UNITS, key=len, reverse=True) if word.startswith(u)), None)
    return unit


_NUMBER_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
}
#: A number word right before a unit ("one-year", "ten years", "a month"): a figure like "1 year".
#: Only before a unit, so "one of the sources" or "a battery" is left alone.
_WORD_FIGURE = re.compile(
    r"\b(" + "|".join(_NUMBER_WORDS) + r")(?=[\s-]+(?:full\s+)?"
    r"(?:years?|months?|weeks?|days?|hours?|minutes?|seconds?|cycles?|percent)\b)",
    re.IGNORECASE,
)


def spell_numbers(text: str) -> str:
    """Number words before a unit written as digits ("a one-year guarantee" -> "a 1-year
    guarantee"), so "one-year" is checked like "1 year" against a source's "10 years"."""
    return _WORD_FIGURE.sub(lambda m: str(_NUMBER_WORDS[m.group(1).lower()]), text)


def quantities(text: str, window: int = 1) -> list[tuple[str, str | None]]:
    """(figure, unit or None) for each number in `text` ([n] markers and list numbering left out).
    The unit is the first unit word among the `window` words after the number (sources say
    "6,000 full charge cycles"; an answer's "3 years" must have its unit right there)."""
    text = spell_numbers(_ENUMERATOR.sub(" ", _MARKER.sub(" ", text)))
    out = []
    for match in _NUMBER.finditer(text):
        following = re.findall(r"%|[A-Za-z]+|[가-힣]+", text[match.end() : match.end() + 40])
        units = [u for u in (_unit(w) for w in following[:window]) if u]
        out.append((_figure(match.group(0)), units[0] if units else None))
    return list(dict.fromkeys(out))


def figures(text: str) -> list[str]:
    """Distinct numbers written in `text` ([n] markers and list numbering left out)."""
    return list(dict.fromkeys(figure for figure, _unit in quantities(text)))


def unsupported_numbers(answer: str, sources: Sequence[Hit]) -> list[str]:
    """Figures of the answer found in none of the sources (their text or title). A figure with a
    unit needs the same figure with the same unit (within three words) in a source."""
    known = {q for hit in sources for q in quantities(f"{hit.title}\n{hit.chunk.text}", window=3)}
    bare = {figure for figure, _unit in known}
    missing = []
    for figure, unit in quantities(answer):
        supported = (figure, unit) in known if unit else figure in bare
        label = f"{figure} {unit}" if unit and unit != "%" else f"{figure}{unit or ''}"
        if not supported and label not in missing:
            missing.append(label)
    return missing


def figure_support(answer: str, unsupported: Sequence[str]) -> float:
    """Share of the answer's figures that the sources contain (1.0 when it states none)."""
    total = len(quantities(answer))
    return 1.0 if total == 0 else max(0.0, (total - len(unsupported)) / total)


# --- post-hoc attribution --------------------------------------------------------------------


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


# --- follow-up questions ---------------------------------------------------------------------


def _topic(hit: Hit) -> tuple[str, bool]:
    """(text, is_question): an FAQ row's question, else the chunk's first section heading (Markdown),
    else the document title."""
    faq = _FAQ_QUESTION.search(hit.chunk.text)
    if faq:
        return faq.group(1).strip(), True
    headings = _HEADING.findall(hit.chunk.text)
    # A section heading says more than the page's own title (the level-1 heading).
    sections = [text for marks, text in headings if len(marks) > 1] or [text for _, text in headings]
    if sections:
        return sections[0].strip(" *_"), False
    title = hit.title.strip()
    # A bare file stem ("returns_ko") is not a topic anyone would ask about.
    if title and not re.fullmatch(r"[\w.-]+", title):
        return title, False
    return "", False


def suggest_followups(
    question: str, sources: Sequence[Hit], used: set[int], lang: Lang, limit: int
) -> list[str]:
    """Up to `limit` follow-up questions from sources not used in the answer (then used ones)."""
    if limit <= 0:
        return []
    order = [i for i in range(len(sources)) if i + 1 not in used] + sorted(i - 1 for i in used)
    seen = {_normalize(question).lower()}
    out: list[str] = []
    for i in order:
        if not 0 <= i < len(sources):
            continue
        topic, is_question = _topic(sources[i])
        if not topic:
            continue
        text = (
            topic if is_question else message("followup", lang, topic=f"“{topic}”" if lang == "en" else topic)
        )
        key = _normalize(topic).lower()
        if key in seen:
            continue
        seen.add(key)
        out.append(text)
        if len(out) == limit:
            break
    return out


# --- the policy around a pipeline ------------------------------------------------------------


class AnswerRun:
    """One question in flight: `sources` and `confidence` are known at once; iterate for text deltas
    (none when it abstains or generation is off); `finish()` applies the policy to the full text.

    A reader that goes away mid-answer must `cancel()` (any thread) and then `close()` the iteration
    it was driving: that stops generation and releases the generator for the next question."""

    def __init__(
        self,
        responder: Responder,
        question: str,
        lang: Lang,
        hits: list[Hit],
        confidence: float,
        stream: AnswerStream | None,
        abstain_reason: str,
        started: float,
        retrieve_ms: float,
        search_query: str = "",
        *,
        preset: Answer | None = None,
        decisions: list[dict[str, Any]] | None = None,
        stage_ms: dict[str, float] | None = None,
        cache_put: Callable[[Answer], dict[str, Any] | None] | None = None,
    ) -> None:
        self._responder = responder
        self.question = question
        self.search_query = search_query or question
        self.lang = lang
        self.confidence = confidence
        self._stream = stream
        self.abstain_reason = abstain_reason
        #: The sources numbered as the model saw them (all retrieved ones when it did not generate),
        #: as stored: the prompt may have shown them neutralised (guardrails.check_documents).
        self.hits: list[Hit] = hits
        if stream is not None:
            originals = {h.chunk.id: h for h in hits}
            self.hits = [originals.get(h.chunk.id, h) for h in stream.sources]
        #: An answer decided before generation: a cache hit or a guardrail's refusal.
        self.preset = preset
        #: Cache and guardrail decisions so far (the answer carries them all).
        self.decisions: list[dict[str, Any]] = list(decisions or [])
        self._stage_ms = dict(stage_ms or {})
        self._cache_put = cache_put
        self._started = started
        self._retrieve_ms = retrieve_ms
        self._generate_ms = 0.0
        self._consumed = False
        self._retry_usage = Usage()

    @property
    def abstained(self) -> bool:
        return bool(self.abstain_reason) or (self.preset is not None and self.preset.abstained)

    @property
    def generating(self) -> bool:
        return self._stream is not None

    @property
    def sources(self) -> list[Citation]:
        return [source_citation(n, hit, query=self.question) for n, hit in enumerate(self.hits, start=1)]

    @property
    def streamed_text(self) -> str:
        """What the generator wrote so far (before the policy)."""
        return self._stream.text if self._stream is not None else ""

    @property
    def usage(self) -> Usage:
        """Tokens of the generation, and of the strict retry when there was one."""
        if self._stream is None:
            return Usage()
        retry = self._retry_usage
        return Usage(
            self._stream.prompt_tokens + retry.prompt_tokens,
            self._stream.completion_tokens + retry.completion_tokens,
        )

    def __iter__(self) -> Iterator[str]:
        if self._stream is None or self._consumed:
            return
        t0 = time.perf_counter()
        try:
            yield from self._stream
        finally:
            self._generate_ms += (time.perf_counter() - t0) * 1000.0
            self._consumed = True
            self._stream.close()

    def cancel(self) -> None:
        """Stop generating at the next token (safe from another thread)."""
        if self._stream is not None:
            self._stream.cancel()

    def close(self) -> None:
        """Release the generator without reading the rest (not while another thread iterates)."""
        if self._stream is not None:
            self._stream.close()

    def finish(self) -> Answer:
        for _ in self:
            pass
        if self.preset is not None:
            return replace(self.preset, latency_ms=self._latency(), decisions=list(self.decisions))
        return self._responder.finish(self)

    @property
    def _stream_cancelled(self) -> bool:
        return self._stream is not None and self._stream.cancelled

    @property
    def can_retry(self) -> bool:
        """A model wrote the answer (not a source-quoting answerer) and the reader did not leave."""
        stream = self._stream
        return stream is not None and stream.from_model and not stream.cancelled

    def retry_strict(self) -> str:
        """Generate once more over the same sources with the strict prompt (not streamed)."""
        pipeline = self._responder.pipeline
        t0 = time.perf_counter()
        first = self._stream
        assert first is not None  # can_retry
        strict = builtin_template(STRICT_TEMPLATE)
        # The sources as the first prompt showed them (neutralised by the document rails, if any).
        stream = pipeline.stream(first.question, hits=first.sources, sampling=first.sampling, template=strict)
        try:
            for _ in stream:
                pass
        finally:
            stream.close()
            self._generate_ms += (time.perf_counter() - t0) * 1000.0
        self._retry_usage = Usage(stream.prompt_tokens, stream.completion_tokens)
        return stream.text

    def interrupted(self, partial_text: str) -> Answer:
        """What the client saw when it went away mid-answer (no verification: the text is cut)."""
        if self.preset is not None:
            return replace(self.preset, latency_ms=self._latency(), decisions=list(self.decisions))
        return Answer(
            question=self.question,
            lang=self.lang,
            text=partial_text,
            citations=[],
            sources=self.sources,
            confidence=self.confidence,
            abstained=self.abstained,
            reason=self.abstain_reason,
            followups=[],
            generated=self._stream is not None,
            latency_ms=self._latency(),
            search_query=self.search_query,
            usage=self.usage,
            decisions=list(self.decisions),
        )

    def _latency(self) -> dict[str, float]:
        total = (time.perf_counter() - self._started) * 1000.0
        return {
            **{stage: round(ms, 3) for stage, ms in self._stage_ms.items()},
            "retrieve": round(self._retrieve_ms, 3),
            "generate": round(self._generate_ms, 3),
            "total": round(total, 3),
        }


class Responder:
    """The only code that turns retrieved hits into an answer a user reads (the CLI, /api/ask,
    /v1/chat/completions and answer scoring in eval/optimize all come through here).

    Applies an AnswerConfig around a Pipeline; safe to call from several threads: retrieval runs
    one query at a time (tokenizer caches and the BLAS thread setting are process-wide), and the
    llama-cpp generator serializes generation on its own lock."""

    def __init__(
        self,
        pipeline: Pipeline,
        policy: AnswerConfig | None = None,
        *,
        texts: TextLookup | None = None,
        tokenize: Tokenize | None = None,
        tenant: str = "default",
        collection: str | None = None,
        cache: bool = True,
        guard: bool = True,
    ) -> None:
        """`tenant`/`collection` scope the answer cache (the collection defaults to the project's
        folder name, what `llmpilot serve` calls it). `cache`/`guard` False leave the answer cache
        and the guardrails out whatever the config says (measuring generation itself)."""
        self.pipeline = pipeline
        self.policy = policy or pipeline.cfg.answer
        self._texts = texts or pipeline.project.store.document_texts
        self._tokenize = tokenize
        self._search_lock = threading.Lock()
        self.tenant = tenant
        project = getattr(pipeline, "project", None)  # None: scoring only (for_scoring)
        self.collection = collection or (project.root.name if project is not None else "")
        self._use_cache = cache
        self._use_guard = guard
        self._cache: AnswerCache | None = None
        self._guardrails: Guardrails | None = None
        self._query_embedder: Embedder | None = None

    def warm(self) -> None:
        """Load indexes, the embedder and the tokenizers now rather than on the first question."""
        with self._search_lock:
            self.pipeline.search("warm up")
        self.tokenize(["warm up", "준비"])
        if self.guardrails is not None:
            self.guardrails.warm()
        if self.cache is not None:
            self.cache.verifier.features("warm up 준비")

    # --- the serving stages around the answer policy (llmpilot.cache, llmpilot.guardrails) ------

    @property
    def cache(self) -> AnswerCache | None:
        cfg = self.pipeline.cfg if self.pipeline is not None else None
        if cfg is None or not (self._use_cache and cfg.cache.enabled):
            return None
        if self._cache is None:
            from llmpilot.cache.service import AnswerCache

            self._cache = AnswerCache(
                cfg.cache, self.pipeline.project.store, self.tenant, self.collection, self._scope_parts()
            )
        return self._cache

    def _scope_parts(self) -> dict[str, object]:
        """Everything a cached answer depends on besides the documents (see llmpilot.cache.service)."""
        cfg = self.pipeline.cfg
        form = {k: v for k, v in cfg.hash_form().items() if k != "cache"}
        template = self.pipeline.template
        return {
            "config": form,
            "template": [template.system, template.user],
            "model": [
                cfg.generator.name,
                cfg.generator.model_path,
                cfg.generator.model,
                cfg.generator.base_url,
            ],
        }

    @property
    def guardrails(self) -> Guardrails | None:
        cfg = self.pipeline.cfg if self.pipeline is not None else None
        if cfg is None or not (self._use_guard and cfg.guardrails.enabled):
            return None
        if self._guardrails is None:
            from llmpilot.guardrails import Guardrails

            self._guardrails = Guardrails(cfg.guardrails, embed=self._embed_queries)
        return self._guardrails

    def _embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Query embeddings with the project's embedder (loaded for this when retrieval has none)."""
        embedder = self.pipeline.embedder
        if embedder is None:
            if self._query_embedder is None:
                from llmpilot import factory

                self._query_embedder = factory.embedder(self.pipeline.cfg.embedder)
            embedder = self._query_embedder
        with self._search_lock:
            return embedder.embed(list(texts), "query")

    @property
    def tokenize(self) -> Tokenize:
        if self._tokenize is None:
            from llmpilot import factory

            self._tokenize = factory.tokenizer("auto")
        return self._tokenize

    def start(
        self,
        question: str,
        *,
        k: int | None = None,
        lang: str | None = None,
        generate: bool = True,
        search_query: str | None = None,
        sampling: Sampling | None = None,
        use_cache: bool = True,
    ) -> AnswerRun:
        """Guard, look up the answer cache, retrieve and decide; generation starts when the run is
        iterated. `search_query` is what retrieval runs with when it differs from the question (a
        follow-up condensed with its conversation); the generator still sees the user's own
        question. `use_cache` False answers anew (the answer is still kept for next time)."""
        started = time.perf_counter()
        language = question_language(question, lang)
        decisions: list[dict[str, Any]] = []
        stage_ms: dict[str, float] = {}
        guardrails, cache = self.guardrails, self.cache
        standalone = search_query is None or search_query == question
        cacheable = cache is not None and generate and standalone
        # The cache's scope (it reads the collection version) once per question: the answer is kept
        # under the version it was retrieved from, even if an ingest lands while it generates.
        scope = cache.scope(sampling) if cache is not None and cacheable else ""
        if cache is not None and cacheable and use_cache and cache.cfg.exact:
            # The same question, asked before under the same rails (they are part of the cache's
            # scope), passed them then: served before embedding or guarding it again.
            t0 = time.perf_counter()
            hit, decision = cache.lookup(question, None, scope)
            if decision.outcome != "miss":  # a hit, or a stale entry dropped: both are traced
                stage_ms["cache"] = (time.perf_counter() - t0) * 1000.0
                decisions.append(decision.as_dict())
            if hit is not None:
                return self._served(question, language, hit, decision.kind, started, decisions, stage_ms)
        # One query embedding serves the injection rail, the semantic cache and dense retrieval.
        needs_vector = self.pipeline.embedder is not None or (cache is not None and cache.cfg.semantic)
        vector = self._embed_queries([question])[0] if needs_vector else None
        if guardrails is not None:
            t0 = time.perf_counter()
            verdict = guardrails.check_input(question, language, vector=vector)
            stage_ms["guard_input"] = (time.perf_counter() - t0) * 1000.0
            decisions += [d.as_dict() for d in verdict.decisions]
            if verdict.blocked:
                blocked = self._blocked(question, language, verdict.message, decisions)
                return AnswerRun(
                    self, question, language, [], 0.0, None, "", started, 0.0,
                    preset=blocked, decisions=decisions, stage_ms=stage_ms,
                )  # fmt: skip
            if verdict.text != question:  # PII redacted: nothing downstream sees (or stores) it
                question = verdict.text
                vector = self._embed_queries([question])[0] if needs_vector else None
        query = search_query or question
        if not standalone and needs_vector:
            vector = self._embed_queries([query])[0]
        cache_put = None
        if cache is not None and cacheable:
            if use_cache:
                t0 = time.perf_counter()
                hit, decision = cache.lookup(question, vector, scope)
                stage_ms["cache"] = (time.perf_counter() - t0) * 1000.0
                decisions.append(decision.as_dict())
                if hit is not None:
                    return self._served(question, language, hit, decision.kind, started, decisions, stage_ms)
            asked, asked_vector = question, vector
            cache_put = lambda answer: self._keep(cache, asked, asked_vector, answer, scope)  # noqa: E731
        with self._search_lock:
            hits = self.pipeline.search(query, k, vector=vector)
        retrieve_ms = (time.perf_counter() - started) * 1000.0 - sum(stage_ms.values())
        confidence = retrieval_confidence(hits)
        reason = self.abstain_reason(hits, confidence, language, question=query)
        stream = None
        if generate and not reason:
            prompt_hits = hits
            if guardrails is not None:
                t0 = time.perf_counter()
                prompt_hits, found = guardrails.check_documents(hits, language)
                stage_ms["guard_documents"] = (time.perf_counter() - t0) * 1000.0
                decisions += [d.as_dict() for d in found]
            prompt_question = question if query == question else _with_context(question, query)
            stream = self.pipeline.stream(prompt_question, k, hits=prompt_hits, sampling=sampling)
        return AnswerRun(
            self, question, language, hits, confidence, stream, reason, started, retrieve_ms, query,
            decisions=decisions, stage_ms=stage_ms, cache_put=cache_put,
        )  # fmt: skip

    def _served(
        self,
        question: str,
        lang: Lang,
        hit: Answer,
        kind: str,
        started: float,
        decisions: list[dict[str, Any]],
        stage_ms: dict[str, float],
    ) -> AnswerRun:
        # No tokens were spent this time: usage is what this request cost.
        served = replace(hit, question=question, cached=kind, search_query=question, usage=Usage())
        return AnswerRun(
            self, question, lang, [], hit.confidence, None, "", started, 0.0,
            preset=served, decisions=decisions, stage_ms=stage_ms,
        )  # fmt: skip

    def forget(self, entry_ids: Sequence[str]) -> None:
        """Drop cached answers (a user marked them wrong)."""
        cache = self.cache
        if cache is not None:
            cache.forget(entry_ids)

    def _blocked(self, question: str, lang: Lang, notice: str, decisions: list[dict[str, Any]]) -> Answer:
        """The answer to a question an input rail refused: the notice, and why (never empty)."""
        why = next((d["reason"] for d in decisions if d["outcome"] == "block"), "")
        return Answer(
            question=question,
            lang=lang,
            text=notice or message("blocked", lang),
            citations=[],
            sources=[],
            confidence=0.0,
            abstained=True,
            reason=why or message("blocked", lang),
            followups=[],
            search_query=question,
            blocked=True,
        )

    def _keep(
        self,
        cache: AnswerCache,
        question: str,
        vector: np.ndarray | None,
        answer: Answer,
        scope: str,
    ) -> dict[str, Any] | None:
        """Cache a finished answer worth repeating: shown (not abstained, not refused) and complete."""
        if answer.abstained or answer.blocked or not answer.generated:
            return None
        return cache.put(question, vector, answer, scope).as_dict()

    def ask(
        self,
        question: str,
        *,
        k: int | None = None,
        lang: str | None = None,
        generate: bool = True,
        search_query: str | None = None,
        sampling: Sampling | None = None,
        use_cache: bool = True,
    ) -> Answer:
        run = self.start(
            question,
            k=k,
            lang=lang,
            generate=generate,
            search_query=search_query,
            sampling=sampling,
            use_cache=use_cache,
        )
        return run.finish()

    @classmethod
    def for_scoring(
        cls, policy: AnswerConfig, texts: TextLookup, tokenize: Tokenize | None = None
    ) -> Responder:
        """The policy alone, for answers generated elsewhere (optimization trials): `judge` and
        `abstain_reason` work; `start`/`ask` need a pipeline."""
        return cls(None, policy, texts=texts, tokenize=tokenize)  # type: ignore[arg-type]

    def abstain_reason(self, hits: Sequence[Hit], confidence: float, lang: Lang, question: str = "") -> str:
        """Why the answer abstains before generating ("" when it does not): no sources, or weak
        retrieval support unless the question names a code the top source holds."""
        if not hits:
            return message("no_sources", lang)
        missing, one_source_holds_them = code_evidence(question, hits)
        if missing:  # "What does F12 mean?" over documents that list E03-E21: they do not say
            return message("unknown_code", lang, codes=", ".join(missing))
        if confidence < self.policy.abstain_below and not one_source_holds_them:
            return message("low_support", lang, confidence=confidence, threshold=self.policy.abstain_below)
        return ""

    def finish(self, run: AnswerRun) -> Answer:
        raw = run._stream.text if run._stream is not None else None
        answer = self.judge(
            run.question,
            run.hits,
            raw,
            lang=run.lang,
            confidence=run.confidence,
            abstain_reason=run.abstain_reason,
            retry=(lambda: (run.retry_strict(), run.hits)) if run.can_retry else None,
        )
        guardrails = self.guardrails
        if guardrails is not None and answer.generated:
            t0 = time.perf_counter()
            answer, found = guardrails.check_output(answer, run.hits)
            run._stage_ms["guard_output"] = (time.perf_counter() - t0) * 1000.0
            run.decisions += [d.as_dict() for d in found]
        answer = replace(answer, search_query=run.search_query, usage=run.usage)
        if run._cache_put is not None and not run._stream_cancelled:
            t0 = time.perf_counter()
            kept = run._cache_put(answer)
            if kept is not None:
                run.decisions.append(kept)
                run._stage_ms["cache_store"] = (time.perf_counter() - t0) * 1000.0
        return replace(answer, latency_ms=run._latency(), decisions=list(run.decisions))

    def judge(
        self,
        question: str,
        hits: Sequence[Hit],
        raw: str | None,
        *,
        lang: Lang | None = None,
        confidence: float | None = None,
        abstain_reason: str = "",
        fallback: bool = True,
        retry: StrictRetry | None = None,
    ) -> Answer:
        """The policy applied to what a generator wrote (`raw`; None = it was not called) from
        `hits` numbered as the model saw them — for answers generated elsewhere too (evaluation).
        A weak answer is generated once more with the strict prompt when `retry` can do that and
        `answer.retry` is on; if still weak, it falls back to quoting the sources (`fallback`)."""
        answer, weak = self.assess(
            question, hits, raw, lang=lang, confidence=confidence, abstain_reason=abstain_reason
        )
        retried = False
        if weak and retry is not None and self.policy.retry:
            retried = True
            # Once more with the strict prompt (copy the answering sentence, cite it): small models
            # that paraphrase into unsupported claims often quote correctly when told to.
            raw, hits = retry()
            answer, weak = self.assess(question, hits, raw, lang=lang, confidence=confidence)
        if weak and fallback:
            answer = self.fall_back(answer, hits, confidence)
        return with_calibrated_confidence(replace(answer, retried=retried))

    def assess(
        self,
        question: str,
        hits: Sequence[Hit],
        raw: str | None,
        *,
        lang: Lang | None = None,
        confidence: float | None = None,
        abstain_reason: str = "",
    ) -> tuple[Answer, bool]:
        """`judge` without the fallback: the checked answer, and whether it is too weak to show as
        written (nothing supported, mostly unsupported, nothing checkable, or its confidence under
        the abstain threshold) — the case for a stricter retry or the quoted fallback."""
        language = lang or question_language(question)
        hits = list(hits)
        support = retrieval_confidence(hits) if confidence is None else confidence
        base = Answer(
            question=question,
            lang=language,
            text="",
            citations=[],
            sources=[source_citation(n, hit, query=question) for n, hit in enumerate(hits, start=1)],
            confidence=support,
            abstained=False,
            reason="",
            followups=[],
            search_query=question,
            # Kept on every answer, abstained ones too: what drift detection compares across windows.
            signals={"retrieval": support},
        )
        limit = self.policy.followups
        if abstain_reason:
            return replace(
                base,
                text=message("abstain", language),
                abstained=True,
                reason=abstain_reason,
                followups=suggest_followups(question, hits, set(), language, limit),
            ), False
        if raw is None:  # retrieval only: the sources are the result
            return replace(base, followups=suggest_followups(question, hits, set(), language, limit)), False
        if not raw.strip():
            return replace(
                base,
                text=message("abstain", language),
                abstained=True,
                reason=message("empty_answer", language),
                generated=True,
                followups=suggest_followups(question, hits, set(), language, limit),
            ), True
        from llmpilot.support import check_support  # support builds on this module's figure checks

        texts = self._texts([h.chunk.doc_id for h in hits])
        text, citations, invalid = verify_citations(raw.strip(), hits, texts, query=question)
        with self._search_lock:  # the same process-wide tokenizer state as retrieval
            check = check_support(
                split_sentences(text),
                hits,
                self.tokenize,
                verifiable=lambda n: source_is_verifiable(hits[n - 1], texts),
                attribute_min_overlap=self.policy.attribute_min_overlap,
                question=question,
            )
        # [n] that supports none of its sentences: dropped like a marker to a missing source.
        dropped = check.unsupported_markers()
        text = strip_markers(text, dropped)
        citations = [c for c in citations if c.n not in dropped]
        marked = {c.n for c in citations}
        citations += [
            source_citation(n, hits[n - 1], attributed=True, query=question)
            for n in check.attributed_sources()
            if n not in marked
        ]
        used = {c.n for c in citations}
        unsupported = unsupported_numbers(text, hits)
        figures = figure_support(text, unsupported)
        with self._search_lock:
            coverage = question_coverage(question, text, self.tokenize)
        answer = replace(
            base,
            text=text,
            citations=citations,
            confidence=support * figures * check.support,
            signals={
                "retrieval": support,
                "support": check.support,
                "figures": figures,
                "coverage": coverage,
            },
            unsupported_numbers=unsupported,
            unsupported_sentences=[strip_markers(s, dropped) for s in check.unsupported],
            support=check.support,
            invalid_citations=invalid + len(dropped),
            generated=True,
            followups=suggest_followups(question, hits, used, language, limit),
        )
        if check.nothing_supported:  # not shown as an answer; kept for a flagged view or a fallback
            return replace(
                answer,
                text=message("abstain", language),
                unsupported_text=text,
                abstained=True,
                reason=message("unsupported", language),
            ), True
        # Mostly unsupported, nothing in it to check ("The answer to this question is:"), or its
        # figures and support pulled the confidence under the abstain threshold.
        weak = check.support < MIN_ANSWER_SUPPORT or not check.judged
        # Retrieval under the threshold got here only by naming a retrieved code
        # (names_a_retrieved_code): it counts as at the threshold, the checks decide.
        threshold = self.policy.abstain_below
        return answer, weak or max(support, threshold) * figures * check.support < threshold

    def fall_back(self, weak: Answer, hits: Sequence[Hit], confidence: float | None = None) -> Answer:
        """A weak answer replaced by the quoted sources when they answer (`answer.fallback`); else
        an answer with nothing supported stays abstained, and a partly supported one is shown,
        flagged, with its lowered confidence. `confidence`: retrieval's, as `judge` got it."""
        if not weak.generated or (weak.abstained and not weak.unsupported_text):
            return weak  # abstained before generating, or the model wrote nothing to quote instead of
        support = retrieval_confidence(list(hits)) if confidence is None else confidence
        shown = weak if weak.abstained else replace(weak, unsupported_text=weak.text)
        quoted = self._fallback(weak.question, list(hits), weak.lang, support, shown)
        return quoted if quoted.fallback else weak

    def _fallback(
        self, question: str, hits: list[Hit], lang: Lang, confidence: float, unsupported: Answer
    ) -> Answer:
        """The extractive answer from the same sources, when the policy allows it and it is itself
        supported; else the abstention. Labelled: the reader sees that it quotes the sources."""
        if self.policy.fallback != "extractive":
            return unsupported
        from llmpilot.generation.extractive import ExtractiveAnswerer

        with self._search_lock:  # kiwi, like retrieval
            quoted = ExtractiveAnswerer().answer_sources(question, hits)
        if not quoted.strip():
            return unsupported
        answer = self.judge(question, hits, quoted, lang=lang, confidence=confidence, fallback=False)
        if answer.abstained:
            return unsupported
        return replace(
            answer,
            fallback="extractive",
            unsupported_text=unsupported.unsupported_text,
            reason=message("quoted", lang),
        )


def with_calibrated_confidence(answer: Answer) -> Answer:
    """A shown generated answer's confidence becomes the calibrated probability that it is correct
    (llmpilot.calibration); abstentions keep retrieval's score, which their reason quotes."""
    if answer.abstained or not answer.generated or not answer.signals:
        return answer
    from llmpilot.calibration import calibrated

    return replace(answer, confidence=calibrated(answer))


def question_coverage(question: str, text: str, tokenize: Tokenize) -> float:
    """Share of the question's content tokens that the answer contains: a supported quote that
    shares little with the question (an installation step for "what is the installation fee?")
    is supported but answers something else."""
    asked, said = (set(tokens) for tokens in tokenize([question, text]))
    return len(asked & said) / len(asked) if asked else 1.0


def code_evidence(question: str, hits: Sequence[Hit]) -> tuple[list[str], bool]:
    """Codes are exact evidence that embedding cosines blur: the codes the question names (E07,
    F12, SBX-2210) that no retrieved source contains, and whether one source contains them all
    ("에러 코드 E07은 무슨 뜻인가요?" scores 0.806, under 0.81, with the error table at rank 3)."""
    from llmpilot.support import codes  # support builds on this module

    asked = codes(question)
    if not asked:
        return [], False
    held = [codes(f"{hit.title}\n{hit.chunk.text}") for hit in hits]
    return sorted(asked - set().union(*held)), any(asked <= found for found in held)


def _with_context(question: str, search_query: str) -> str:
    """The question the generator sees for a follow-up: the user's words plus what they refer to."""
    if is_korean(question):
        return f"{question}\n(이전 대화를 반영한 질문: {search_query})"
    return f"{question}\n(In the context of the conversation: {search_query})"
