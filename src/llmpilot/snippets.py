"""Query-focused snippets: the part of a chunk that best matches a query, with the matched terms marked.

`snippet()` (generation/prompting.py) shows a chunk's first characters, which often miss the answer:
in a 200-character Korean page the "14일" a reader wants sits past character 100. `focus_snippet`
instead picks the window holding the most (length-weighted) query terms, snaps it to sentence or word
boundaries, and returns the character spans of the matched terms inside the window.

Terms are matched on normalized forms, not raw substrings: Korean text goes through kiwipiepy
(content morphemes, so "보증 기간은" meets "보증기간"), other text through lowercase Snowball stems
("warranties" meets "warranty"). Offsets are Python string indices (Unicode code points).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import NamedTuple

from llmpilot.index.tokenizers import HANGUL_CLASS, get_kiwi

ELLIPSIS = "…"


class Term(NamedTuple):
    """A normalized term (`key`) and where it stands in the text: text[start:end]."""

    key: str
    start: int
    end: int


#: Turns a text into its terms with offsets; queries and chunks go through the same one.
TermTokenizer = Callable[[str], Sequence[Term]]


@dataclass(frozen=True)
class Snippet:
    """A window of a chunk: `text` is chunk[start:end] with "…" where it was cut, and `highlights`
    are the (start, end) spans in `text` of the query terms it matched: sorted, and merged where
    they touch ("보증" + "기간" in "보증기간" is one span)."""

    text: str
    highlights: list[tuple[int, int]]
    start: int
    end: int


# ---- terms ------------------------------------------------------------------------------------

_HANGUL = re.compile(f"[{HANGUL_CLASS}]")
_HANGUL_RUN = re.compile(f"[{HANGUL_CLASS}]+")
#: Letter runs and digit runs apart ("SolBox10" -> solbox, 10), the way kiwi splits them too.
_WORD = re.compile(r"[^\W\d_]+|\d+")
_SURROGATE = re.compile("[\ud800-\udfff]")
#: Kiwi tags that carry content: nouns (not bound nouns or pronouns), verb/adjective stems, roots,
#: foreign words, numbers, Chinese characters. Irregular stems carry a suffix ("VV-I"): match the base.
_CONTENT_TAGS = frozenset({"NNG", "NNP", "NR", "VV", "VA", "XR", "SL", "SN", "SH"})
#: Stems too common to say anything about the query ("있다", "하다", "되다", "않다", "같다").
_KO_STOP = frozenset({"있", "하", "되", "않", "같"})
#: Hangul nouns at least this long are also found inside longer nouns ("기간" in "보증기간"), since the
#: analyzer may keep a compound whole in one text and split it in another.
_MIN_INNER = 2


@cache
def _stemmer() -> Callable[[str], str]:
    import Stemmer

    stem = Stemmer.Stemmer("english")
    return cache(stem.stemWord)


@cache
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


#: Question words and pronouns: a query is usually a question, and these would mark noise.
_EN_QUESTION_WORDS = frozenset(
    {
        *("what", "when", "where", "which", "who", "whom", "whose", "why", "how"),
        *("do", "does", "did", "can", "could", "should", "would", "may", "must"),
        *("i", "me", "my", "we", "our", "us", "you", "your", "he", "she", "him", "her", "its"),
        *("have", "has", "had", "from", "about", "any", "than", "so"),
    }
)


def _latin_key(word: str) -> str | None:
    word = word.lower()
    if word in _stopwords() or word in _EN_QUESTION_WORDS or (len(word) < 2 and not word.isdigit()):
        return None
    return word if word.isdigit() else _stemmer()(word)


def default_terms(text: str) -> list[Term]:
    """Kiwi content morphemes for text with Hangul (their Latin words stemmed), else stemmed words."""
    if not _HANGUL.search(text):
        return [
            Term(key, m.start(), m.end())
            for m in _WORD.finditer(text)
            if (key := _latin_key(m.group())) is not None
        ]
    # Kiwi cannot encode lone surrogates; a same-length stand-in keeps every offset valid.
    clean = _SURROGATE.sub("\ufffd", text)
    terms: list[Term] = []
    for tok in get_kiwi().tokenize(clean):
        tag = tok.tag.split("-", 1)[0]
        if tag not in _CONTENT_TAGS:
            continue
        start, end = tok.start, tok.start + tok.len
        if tag == "SL":
            key = _latin_key(tok.form)
            if key is not None:
                terms.append(Term(key, start, end))
        elif tok.form not in _KO_STOP:
            terms.append(Term(tok.form, start, end))
    return terms


def match_terms(text: str, query: str, tokenize: TermTokenizer | None = None) -> list[Term]:
    """The terms of `text` that match a query term, sorted by position; `key` is the query term."""
    tok = tokenize or default_terms
    wanted = {t.key for t in tok(query)}
    if not wanted:
        return []
    found: list[Term] = []
    inner = [k for k in wanted if len(k) >= _MIN_INNER and _HANGUL_RUN.fullmatch(k)]
    for term in tok(text):
        if term.key in wanted:
            found.append(term)
        elif inner and _HANGUL_RUN.fullmatch(term.key):
            # A compound noun on one side, its parts on the other: mark the part inside the term.
            surface = text[term.start : term.end]
            for key in inner:
                for m in re.finditer(re.escape(key), surface):
                    found.append(Term(key, term.start + m.start(), term.start + m.end()))
    # A term edge inside a character cluster (decomposed jamo, a combining mark) moves outward,
    # so neither the window nor a highlight ever splits one.
    n = len(text)
    found = [
        Term(t.key, _safe_back(text, max(0, t.start)), _safe_forward(text, min(n, t.end)))
        for t in found
        if t.end > t.start
    ]
    found.sort(key=lambda t: (t.start, -t.end))
    return found


def _weight(key: str) -> float:
    # Longer terms say more; a Hangul syllable packs about as much as two Latin letters.
    return float(min(8, sum(2 if _HANGUL.match(ch) else 1 for ch in key)))


# ---- safe cut points -------------------------------------------------------------------------

#: A sentence ends at a newline or at . ! ? before a space; not at "1. " (a numbered heading).
_SENTENCE_END = re.compile(r"(?:(?<![0-9])\.|[!?。！？])(?=\s)|\n")
_SPACE = re.compile(r"\s+")


def _joins_previous(ch: str) -> bool:
    """True when `ch` belongs to the character before it (cutting before it would break that one)."""
    code = ord(ch)
    return (
        0xDC00 <= code <= 0xDFFF  # low surrogate: second half of a pair
        or 0x1160 <= code <= 0x11FF  # Hangul medial vowel / final consonant jamo
        or 0xD7B0 <= code <= 0xD7FF  # Hangul jamo extended-B (vowels, finals)
        or 0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0xE0100 <= code <= 0xE01EF
        or 0x1F3FB <= code <= 0x1F3FF  # emoji skin-tone modifiers
        or code == 0x200D  # zero-width joiner
        or unicodedata.combining(ch) != 0
        or unicodedata.category(ch) in ("Mn", "Mc", "Me")
    )


def _splits_pair(text: str, i: int) -> bool:
    return 0 < i < len(text) and "\ud800" <= text[i - 1] <= "\udbff" and "\udc00" <= text[i] <= "\udfff"


def _safe(text: str, i: int) -> bool:
    """A cut at i splits no surrogate pair, Hangul syllable (as jamo) or character + combining mark."""
    if i <= 0 or i >= len(text):
        return True
    prev = ord(text[i - 1])
    if 0xD800 <= prev <= 0xDBFF or prev == 0x200D or 0x1100 <= prev <= 0x115F:
        return False  # after a high surrogate, a joiner, or a leading consonant jamo
    return not _joins_previous(text[i])


def _safe_back(text: str, i: int, floor: int = 0) -> int:
    while i > floor and not _safe(text, i):
        i -= 1
    return i


def _safe_forward(text: str, i: int, ceiling: int | None = None) -> int:
    top = len(text) if ceiling is None else ceiling
    while i < top and not _safe(text, i):
        i += 1
    return i


def _sentence_start(text: str, i: int) -> int:
    """Where the sentence holding position i starts (after the last sentence end before i)."""
    start = 0
    for m in _SENTENCE_END.finditer(text, 0, i):
        start = m.end()
    return start


def _word_start_at_or_after(text: str, i: int, limit: int) -> int:
    """The first word start in [i, limit] (i itself when it starts a word), else i made safe."""
    if i == 0 or text[i - 1].isspace():
        return i
    m = _SPACE.search(text, i, limit)
    return m.end() if m else _safe_forward(text, i, limit)


def _word_end_at_or_before(text: str, i: int, floor: int) -> int:
    """The last word end in [floor, i] (i itself when a word ends there), else i made safe."""
    if i >= len(text) or text[i].isspace():
        return i
    for j in range(i, floor, -1):
        if text[j - 1].isspace():
            return j - 1
    return _safe_back(text, i, floor)


# ---- the window ------------------------------------------------------------------------------


def _best_cluster(matches: Sequence[Term], room: int) -> tuple[int, int]:
    """The span [a, b) of the best run of matches that fits in `room` characters.

    Runs start at each match. A run scores the weights of its distinct terms; among equal scores
    the one whose distinct terms sit closest together wins (the heading or sentence that names them
    all, rather than a stretch that repeats one), then the one with more repeats, then the earliest.
    """
    best: tuple[float, int, float] | None = None
    # Should every term be longer than the room: a window from the first one's start.
    span = (matches[0].start, matches[0].start)
    j = 0
    for i, first in enumerate(matches):
        j = max(j, i)
        while j < len(matches) and matches[j].end - first.start <= room:
            j += 1
        if j == i:
            continue  # this term alone is longer than the room
        run = matches[i:j]
        keys = {m.key for m in run}
        distinct = sum(_weight(k) for k in keys)
        repeats = sum(_weight(m.key) for m in run) - distinct
        # The shortest prefix of the run that holds every distinct term.
        seen: set[str] = set()
        cover_end = first.end
        for m in run:
            cover_end = max(cover_end, m.end)
            seen.add(m.key)
            if len(seen) == len(keys):
                break
        rank = (round(distinct, 6), -(cover_end - first.start), repeats)
        if best is None or rank > best:
            best, span = rank, (first.start, cover_end)
    return span


def _sentence_start_at_or_after(text: str, lower: int, limit: int) -> int | None:
    """The first sentence start in [lower, limit], if any."""
    if lower == 0 or text[lower - 1] == "\n":
        return lower
    for m in _SENTENCE_END.finditer(text, max(0, lower - 1), limit):
        if lower <= m.end() <= limit:
            return m.end()
    return None


def _place(text: str, a: int, b: int, room: int) -> tuple[int, int]:
    """A window of at most `room` characters holding [a, b), on sentence or word boundaries."""
    n = len(text.rstrip())  # trailing whitespace is not worth a "…"
    slack = max(0, room - (b - a))
    sentence = _sentence_start(text, a)
    # The answer usually follows the terms in their sentence: start where the sentence starts when
    # that fits, else a little before the first term.
    fits = a - sentence <= slack
    start = sentence if fits else _word_start_at_or_after(text, a - slack // 3, a)
    end = min(n, start + room)
    if end == n and start > 0:
        # Near the end: spend the room on what comes before instead, from a sentence start if one fits.
        lower = max(0, n - room)
        found = _sentence_start_at_or_after(text, lower, min(a, lower + room // 3))
        start = found if found is not None else _word_start_at_or_after(text, lower, a)
    if end < n:
        end = _word_end_at_or_before(text, end, b)
    # Whitespace at the edges would sit between the text and its "…".
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return _safe_forward(text, start, a), _safe_back(text, end, b)


def _merge(spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def focus_snippet(
    text: str, query: str, *, width: int = 160, tokenize: TermTokenizer | None = None
) -> Snippet:
    """The window of `text` (at most `width` characters, "…" included) that best matches `query`.

    Without a match the window is the start of the text. `tokenize` replaces the default term
    extraction (kiwi morphemes / English stems) for both the query and the text.
    """
    if width < 3:
        raise ValueError(f"focus_snippet: width must be at least 3 characters, got {width}")
    matches = match_terms(text, query, tokenize) if text.strip() else []
    lo, hi = len(text) - len(text.lstrip()), len(text.rstrip())  # the content, edges trimmed
    if hi - lo <= width:
        start, end = lo, hi
    else:
        room = width - 2  # one "…" on each side at most
        if matches:
            a, b = _best_cluster(matches, room)
            start, end = _place(text, a, b, room)
        else:
            start = lo
            end = _word_end_at_or_before(text, start + room, start)
            while end > start and text[end - 1].isspace():
                end -= 1
            end = _safe_back(text, end, start)
            if end <= start:  # one cluster longer than the room: show it whole
                end = _safe_forward(text, start + 1)
    # Whatever else gives, a surrogate pair is never split.
    if _splits_pair(text, start):
        start += 1
    if _splits_pair(text, end):
        end -= 1
    end = max(start, end)
    head = ELLIPSIS if text[:start].strip() else ""
    tail = ELLIPSIS if text[end:].strip() else ""
    shift = len(head) - start
    spans = [
        (max(m.start, start) + shift, min(m.end, end) + shift)
        for m in matches
        if m.start < end and m.end > start
    ]
    return Snippet(
        text=head + text[start:end] + tail,
        highlights=_merge(spans),
        start=start,
        end=end,
    )
