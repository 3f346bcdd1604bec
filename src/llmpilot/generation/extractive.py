"""An answerer without a language model (registered as ``extractive``): it quotes the sentences of
the retrieved sources that answer the question, each with its citation marker.

Small local models write wrong answers even when retrieval ranks the right passage first, and the
default one cannot write Korean; quoting the source is never wrong about what the source says.

Each source is split into answer units: sentences (Kiwi for Korean, punctuation rules otherwise;
wrapped lines of one paragraph are joined first), list items, table rows (Markdown, or the
`a | b | c` lines the HTML/DOCX loaders write) and FAQ answers (rows that come in as
"question: …\\nanswer: …"). A unit scores the idf-weighted share of the question's terms it
contains (Kiwi morphemes / English stems, `llmpilot.snippets`), plus a bonus for its source's
retrieval rank and for answer-type cues: a "how long / 몇 / 언제 …" question wants a figure, an error
code question (E07) wants that code. The best unit is quoted, then up to `max_sentences - 1` more
that score close to it and bring question terms the others lack.

As a `Generator` it reads the prompt llmpilot builds (`prompting.format_context` + a template);
see `parse_prompt` for what it can and cannot find there.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from llmpilot.chunking.sentence import sentence_spans
from llmpilot.config import GeneratorConfig
from llmpilot.index.tokenizers import is_korean
from llmpilot.registry import generators
from llmpilot.snippets import Term, TermTokenizer, default_terms, match_terms
from llmpilot.types import Hit

# ---- answer units ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    """A quotable piece of source `source` (1-based): `text` is what gets quoted; `context` is text
    that is matched against the question but not quoted (a FAQ row's question, a section heading)."""

    text: str
    source: int
    position: int
    kind: str  # "sentence" | "item" | "row" | "header" (a table's first row) | "faq" | "heading"
    context: str = ""


_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*)$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_BULLET = re.compile(r"^\s*(?:[-*+•·▪]|\d{1,3}[.)])\s+(.*)$")
#: "question: …" / "answer: …" lines: CSV rows without a text column come in this way
#: (sources/files.py writes each column as "name: value"); Q:/A: and Korean labels too.
_FAQ_LABEL = re.compile(r"^\s*(question|q|질문|answer|a|답변|답)\s*[:：]\s*(.*)$", re.IGNORECASE)
_ANSWER_LABELS = frozenset({"answer", "a", "답변", "답"})
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|`)")
_EDGE_STARS = re.compile(r"^\*+\s*|\s*\*+$")
#: Sentence-final punctuation (or a Korean sentence ending) that a heading line lacks.
_FINAL = re.compile(r"[.!?。！？:;…)\]\"'”’다요]\s*$")


def clean(text: str) -> str:
    """Quoted text without Markdown noise: emphasis markers, link targets, extra whitespace."""
    text = _LINK.sub(r"\1", text)
    text = _EMPHASIS.sub("", text)
    text = _EDGE_STARS.sub("", text.strip())
    return " ".join(text.split())


def _is_row(line: str) -> bool:
    cells = [c for c in line.strip().strip("|").split("|") if c.strip()]
    return len(cells) >= 2 and ("|" in line)


def _row_text(line: str) -> str:
    cells = [clean(c) for c in line.strip().strip("|").split("|")]
    return " | ".join(c for c in cells if c)


def _sentences(text: str) -> list[str]:
    spans = sentence_spans(text, is_korean(text))
    return [s for a, b in spans if (s := clean(text[a:b]))]


def _faq_units(text: str, source: int) -> list[Unit] | None:
    """The answer of a "question: …\\nanswer: …" chunk as one unit (its question as context), or
    None when the chunk is not shaped that way."""
    question: list[str] = []
    answer: list[str] = []
    current: list[str] | None = None
    for line in text.splitlines():
        m = _FAQ_LABEL.match(line)
        if m:
            current = answer if m.group(1).lower() in _ANSWER_LABELS else question
            current.append(m.group(2))
        elif current is not None:
            current.append(line)
    body = clean(" ".join(answer))
    if not body:
        return None
    return [Unit(body, source, 0, "faq", context=clean(" ".join(question)))]


def split_units(text: str, source: int) -> list[Unit]:
    """The answer units of one source text, in text order."""
    faq = _faq_units(text, source)
    if faq is not None:
        return faq
    units: list[Unit] = []
    heading = ""
    paragraph: list[str] = []

    header = ""  # the first row of the table being read: column names, context for its rows

    def add(piece: str, kind: str, context: str = "") -> None:
        if any(ch.isalnum() for ch in piece):
            units.append(Unit(piece, source, len(units), kind, context=context or heading))

    def flush() -> None:
        nonlocal heading
        if not paragraph:
            return
        joined = " ".join(line.strip() for line in paragraph)
        paragraph.clear()
        if len(joined) <= 60 and not _FINAL.search(joined):
            # A title line ("Error codes"): context for what follows, and a (weak) unit itself,
            # since OCR'd pages and terse lists hold short answers without a final stop too.
            heading = clean(joined)
            add(heading, "heading")
            return
        for sentence in _sentences(joined):
            add(sentence, "sentence")

    for line in text.splitlines():
        if _TABLE_RULE.match(line):
            continue
        if not _is_row(line):
            header = ""
        if not line.strip():
            flush()
            continue
        if m := _HEADING.match(line):
            flush()
            heading = clean(m.group(1))
            continue
        if _is_row(line):
            flush()
            if header:
                add(_row_text(line), "row", f"{heading} {header}".strip())
            else:
                header = _row_text(line)
                add(header, "header")
            continue
        if m := _BULLET.match(line):
            flush()
            for sentence in _sentences(m.group(1)):
                add(sentence, "item")
            continue
        paragraph.append(line)
    flush()
    return units


# ---- scoring ---------------------------------------------------------------------------------


class _Terms:
    """`default_terms` memoized for one answer: the question and each text are analyzed once
    (match_terms asks for the question's terms per unit). Scoped to a call, so timings stay honest
    and memory bounded."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[Term, ...]] = {}

    def __call__(self, text: str) -> tuple[Term, ...]:
        found = self._seen.get(text)
        if found is None:
            found = self._seen[text] = tuple(default_terms(text))
        return found


#: Stems shorter than this never match by prefix ("warrant" meets "warranti", "car" not "card").
_MIN_PREFIX = 5
#: Question words that only say what kind of answer is wanted ("how long", "what time"): a cue,
#: not a term to find (the answer is "10 years", not something "long").
_CUE_TERMS = frozenset({"long", "much", "mani", "often", "time", "얼마", "며칠", "언제"})


def question_terms(question: str, terms: TermTokenizer = default_terms) -> frozenset[str]:
    """The question's terms to look for in the sources (answer-type cue words left out)."""
    keys = {t.key for t in terms(question)}
    return frozenset(keys - _CUE_TERMS) if keys - _CUE_TERMS else frozenset(keys)


def _matched(text: str, question: str, wanted: frozenset[str], terms: TermTokenizer) -> frozenset[str]:
    """The question terms found in text: same key, a Hangul noun inside a compound
    (`match_terms`), or English stems one of which extends the other ("warrants"/"warranty")."""
    if not text:
        return frozenset()
    found = {t.key for t in match_terms(text, question, terms)} & wanted
    latin = [k for k in wanted - found if len(k) >= _MIN_PREFIX and k.isascii() and k.isalpha()]
    if latin:
        for term in terms(text):
            key = term.key
            if len(key) >= _MIN_PREFIX and key.isascii():
                found.update(k for k in latin if k.startswith(key) or key.startswith(k))
    return frozenset(found)


#: Questions that want a figure: an amount, a count, a duration, a time or a date.
_WANTS_FIGURE = re.compile(
    r"얼마|몇|언제|며칠|기간|how\s+(?:much|many|long|often|old|far|big|heavy)|\bwhen\b|what\s+time",
    re.IGNORECASE,
)
_FIGURE = re.compile(r"\d")
#: An error or model code: letters then digits (E07, SBX-1234), found verbatim in the answer.
_CODE = re.compile(r"\b[A-Za-z]{1,4}-?\d{2,}\b")


@dataclass
class Scored:
    unit: Unit
    score: float
    terms: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Weights:
    """How much each signal counts: coverage (0-1, the idf-weighted share of question terms) is
    the base; the rest are added when a unit covers anything at all."""

    rank: float = 0.15  # divided by the source's number: 0.15 for [1], 0.075 for [2], …
    figure: float = 0.15  # the question wants a figure and the unit has one
    code: float = 0.4  # the question names a code and the unit has it
    context: float = 0.5  # terms found only in a unit's context count this much
    #: A title line or a table's header row answers less than a sentence with the same terms.
    heading: float = 0.5
    topic: float = 0.3  # a question term in the source's title (see `score_units`)
    #: Further units are quoted when they score at least this share of the best one.
    close: float = 0.5
    #: Below this coverage nothing answers: "" (the answer policy then abstains).
    min_coverage: float = 0.1


def score_units(
    question: str,
    units: Sequence[Unit],
    weights: Weights,
    titles: Mapping[int, str] | None = None,
) -> list[Scored]:
    """Each unit's score (see `Weights`) and the question terms it contains. A question term in its
    source's title (`titles`, by source number) names the document, not the passage: it counts
    `weights.topic` as much there (and is not a new term that earns a second quote)."""
    terms = _Terms()
    wanted = question_terms(question, terms)
    if not wanted or not units:
        return []
    own = [_matched(u.text, question, wanted, terms) for u in units]
    ctx = [_matched(u.context, question, wanted, terms) - m for u, m in zip(units, own, strict=True)]
    # Kiwi may split a name in the question ("솔" + "박스") and keep it whole in the title: a term
    # spelled out in the title is a topic term too.
    topics = {
        n: _matched(t, question, wanted, terms) | {k for k in wanted if k in t.lower()}
        for n, t in (titles or {}).items()
    }
    n = len(units)
    df = {k: sum(1 for m, c in zip(own, ctx, strict=True) if k in m or k in c) for k in wanted}
    idf = {k: math.log(1.0 + (n - df[k] + 0.5) / (df[k] + 0.5)) for k in wanted}
    total = sum(idf.values())
    wants_figure = bool(_WANTS_FIGURE.search(question))
    codes = {c.upper() for c in _CODE.findall(question)}
    out: list[Scored] = []
    for unit, mine, extra in zip(units, own, ctx, strict=True):
        topic = topics.get(unit.source, frozenset())

        def mass(keys: frozenset[str], topic: frozenset[str] = topic) -> float:
            return sum(idf[k] * (weights.topic if k in topic else 1.0) for k in keys)

        coverage = (sum(idf[k] for k in mine) + weights.context * sum(idf[k] for k in extra)) / total
        score = (mass(mine) + weights.context * mass(extra)) / total
        if coverage > 0:
            score += weights.rank / unit.source
            if wants_figure and _FIGURE.search(unit.text):
                score += weights.figure
            if codes and codes & {c.upper() for c in _CODE.findall(unit.text)}:
                score += weights.code
            if unit.kind in ("heading", "header"):
                score *= weights.heading
        keep = coverage >= weights.min_coverage
        out.append(Scored(unit, score if keep else 0.0, (mine | extra) - topic))
    return out


def select(scored: Sequence[Scored], max_sentences: int, weights: Weights) -> list[Unit]:
    """The best unit, then up to max_sentences-1 close runners-up that add question terms."""
    ranked = sorted(
        (s for s in scored if s.score > 0),
        key=lambda s: (-s.score, s.unit.source, s.unit.position),
    )
    if not ranked or max_sentences < 1:
        return []
    best = ranked[0]
    chosen = [best]
    covered = set(best.terms)
    for s in ranked[1:]:
        if len(chosen) >= max_sentences or s.score < weights.close * best.score:
            break
        if s.terms - covered and s.unit.text not in {c.unit.text for c in chosen}:
            chosen.append(s)
            covered |= s.terms
    return [s.unit for s in chosen]


_TRAILING_STOP = re.compile(r"([.!?。！？]+)$")


def quote(unit: Unit) -> str:
    """The unit with its marker before the final stop: "… 14:00 [1]."."""
    m = _TRAILING_STOP.search(unit.text)
    if m:
        return f"{unit.text[: m.start()].rstrip()} [{unit.source}]{m.group(1)}"
    return f"{unit.text} [{unit.source}]"


# ---- the prompt ------------------------------------------------------------------------------

_SOURCE = re.compile(r"^\[(\d+)\]([^\n]*)\n<source>\n(.*?)\n</source>", re.DOTALL | re.MULTILINE)
_QUESTION_LABEL = re.compile(r"^\s*(?:question|질문)\s*[:：]\s*", re.IGNORECASE)
_ANSWER_CUE = re.compile(r"\n\s*(?:answer|답변|답)\s*[:：]\s*$", re.IGNORECASE)


def parse_prompt(messages: Sequence[dict[str, str]]) -> tuple[str, dict[int, tuple[str, str]]]:
    """(question, {n: (title, source text)}) from the last user message of a prompt llmpilot built.

    Sources are the `[n] title` + `<source>…</source>` blocks `format_context` writes. The question
    is the text after the last `</source>`, less a leading "Question:"/"질문:" label and a trailing
    "Answer:"/"답변:" cue. Limits: a template that puts `{question}` before `{context}`, or writes
    other instructions after it, gives a question with that boilerplate in it (extra terms, which
    mostly match nothing); a prompt without sources gives the whole message as the question."""
    user = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
    sources = {int(m.group(1)): (m.group(2).strip(), m.group(3)) for m in _SOURCE.finditer(user)}
    tail = user.rsplit("</source>", 1)[-1] if sources else user
    tail = _ANSWER_CUE.sub("", tail.rstrip())
    question = _QUESTION_LABEL.sub("", tail.strip(), count=1)
    return " ".join(question.split()), sources


#: Said by `generate` when no source answers (`answer_sources` returns "" instead).
NO_ANSWER = {
    "ko": "제공된 출처에서 이 질문의 답을 찾지 못했습니다.",
    "en": "The sources do not contain the answer to this question.",
}
#: Words per streamed piece.
_PIECE_WORDS = 4


class ExtractiveAnswerer:
    """Quotes source sentences; deterministic (temperature and seed do not matter). `max_tokens`
    counts whitespace-separated words, the closest thing to tokens without a model."""

    model_id = "extractive"

    def __init__(self, weights: Weights | None = None, max_sentences: int = 3) -> None:
        self.weights = weights or Weights()
        self.max_sentences = max_sentences

    def answer_texts(
        self,
        question: str,
        sources: Sequence[str],
        *,
        titles: Sequence[str] = (),
        max_sentences: int = 3,
    ) -> str:
        """The answer from source texts numbered 1..n (their titles optional), or "" when none answers."""
        units = [u for n, text in enumerate(sources, start=1) for u in split_units(text, n)]
        named = {n: t for n, t in enumerate(titles, start=1) if t}
        scored = score_units(question, units, self.weights, named)
        chosen = select(scored, max_sentences, self.weights)
        # Sources are numbered by relevance: quote in that order, and in text order within one.
        chosen.sort(key=lambda u: (u.source, u.position))
        return " ".join(quote(u) for u in chosen)

    def answer_sources(self, question: str, sources: Sequence[Hit], *, max_sentences: int = 3) -> str:
        """The answer from retrieved hits numbered 1..n as the model would see them ("" for none)."""
        return self.answer_texts(
            question,
            [h.chunk.text for h in sources],
            titles=[h.title for h in sources],
            max_sentences=max_sentences,
        )

    def _answer(self, messages: Sequence[dict[str, str]], max_tokens: int) -> list[str]:
        question, sources = parse_prompt(messages)
        numbered = [sources.get(n, ("", "")) for n in range(1, max(sources, default=0) + 1)]
        text = self.answer_texts(
            question,
            [body for _, body in numbered],
            titles=[title for title, _ in numbered],
            max_sentences=self.max_sentences,
        )
        if not text:
            text = NO_ANSWER["ko" if is_korean(question) else "en"]
        words = re.findall(r"\S+\s*", text)[:max_tokens]
        words[-1:] = [w.rstrip() for w in words[-1:]]
        return ["".join(words[i : i + _PIECE_WORDS]) for i in range(0, len(words), _PIECE_WORDS)]

    def generate(self, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float) -> str:
        return "".join(self._answer(messages, max_tokens))

    def stream(
        self, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float
    ) -> Iterator[str]:
        yield from self._answer(messages, max_tokens)


@generators.register("extractive")
def create_extractive(cfg: GeneratorConfig) -> ExtractiveAnswerer:
    return ExtractiveAnswerer()
