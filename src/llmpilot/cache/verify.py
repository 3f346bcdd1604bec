"""Verification of a semantic-cache candidate: does the cached question ask what the user asked?

A sentence encoder scores look-alike questions high whatever differs between them: with
multilingual-e5-small, "SolBox 보증은 3년인가요?" and "SolBox 보증은 5년인가요?" sit above every usual
threshold. So the verdict is built from what differs, each a check that can be switched off in
`cache.verify` (and is measured on its own in benchmarks/cache.py):

- numbers: the values (with units and dates) must agree — "number 3 != 5", "unit kg != g", "date 3월 != 5월";
- language: a cached answer is in its question's language — "language en != ko";
- entities: names and codes (Latin words in Korean text, proper nouns, product codes): each
  question naming one the other lacks is a swap — "entity SolBox != PowerMax" (an acronym
  spelled out, ML / Machine Learning, is the same name);
- negation: the same number of negations ("안 켜져요" vs "충전되지 않고 안 켜져요") — "negation differs";
- particles: a noun both questions share takes the same Korean adverbial/auxiliary particle —
  "particle 에서 != 로" (서울에서 부산으로 is not 부산에서 서울로);
- look-alike: the two questions' key words (content morphemes, meaningful particles, English
  words but for a few light ones), in order, are the same but for a swap of at most
  `max_substitution` words per side — "word upgrade != downgrade". A user who changes one word
  of a cached question is asking about that word; a paraphrase rewrites more than that. This
  one rule covers antonyms, comparatives, before/after and from/to swaps that no list of
  number/entity/negation checks names. Its price is a miss on a one-word synonym swap;
  a miss costs a generation, a false hit costs a wrong answer;
  In English a reorder is a swap ("from A to B" / "from B to A") unless a phrase moved as a
  whole block and every relation word (from, before, than, ...) kept its object ("the SolBox 10
  battery warranty" / "the battery warranty of the SolBox 10");
- content overlap: the share of content morphemes (Kiwi) / English stems the two share
  (Jaccard) must reach `min_content_overlap`; this is the verdict's `score`.

That is mode "rules". Mode "model" (llmpilot.cache.pairmodel) keeps language, contradicting
numbers, Korean particles and (if switched on) negation as vetoes and turns everything else into
features of a learned pair model whose probability must reach `min_probability`.

Features are computed once per cached question (`QuestionFeatures`, JSON-storable) and once per
lookup for the asked question. Kiwi is not thread-safe: the verifier's analyzer sits behind a lock.
"""

from __future__ import annotations

import difflib
import json
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from llmpilot.config import CacheVerifyConfig

if TYPE_CHECKING:
    from kiwipiepy import Kiwi

# ---- vocabularies -------------------------------------------------------------------------------

_HANGUL = re.compile("[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
#: English-ish words (with an apostrophe part: don't), numbers (3, 3.5, 1,000) and codes (A-12, x86).
_EN_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+(?:'[^\W\d_]+)?")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
#: A code: Latin letters and digits mixed, possibly hyphenated (A-12, GPT4, x86, ISO-9001); a number
#: with a unit glued on (3kg, 30GB) is a number, not a code.
_CODE = re.compile(
    r"(?<![A-Za-z0-9-])(?=[A-Za-z0-9-]*\d)(?=[A-Za-z0-9-]*[A-Za-z])[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*(?![A-Za-z0-9-])"
)
_GLUED_UNIT = re.compile(r"\d+(?:[.,]\d+)*([A-Za-z]+)")

_EN_NUMBER_WORDS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
    "twenty": "20", "thirty": "30", "hundred": "100", "thousand": "1000", "once": "1", "twice": "2",
}  # fmt: skip
_MONTHS = {
    name: str(i)
    for i, names in enumerate(
        [("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",),
         ("june", "jun"), ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"),
         ("october", "oct"), ("november", "nov"), ("december", "dec")],
        start=1,
    )
    for name in names
}  # fmt: skip
#: Korean native and Sino-Korean numerals as Kiwi tags them (MM "세" in "세 개", NR "삼").
_KO_NUMERALS = {
    "한": "1", "두": "2", "세": "3", "네": "4", "다섯": "5", "여섯": "6", "일곱": "7", "여덟": "8",
    "아홉": "9", "열": "10", "스무": "20", "일": "1", "이": "2", "삼": "3", "사": "4", "오": "5",
    "육": "6", "칠": "7", "팔": "8", "구": "9", "십": "10", "백": "100", "천": "1000", "만": "10000",
}  # fmt: skip
#: Units written differently that mean the same; everything else compares as written (casefolded).
_UNIT_ALIASES = {
    "달": "개월", "mins": "minute", "min": "minute", "minutes": "minute", "hrs": "hour", "hr": "hour",
    "hours": "hour", "h": "hour", "secs": "second", "sec": "second", "seconds": "second", "s": "second",
    "days": "day", "weeks": "week", "months": "month", "years": "year", "yrs": "year", "percent": "%",
    "퍼센트": "%", "프로": "%", "kilograms": "kg", "kilogram": "kg", "grams": "g", "gram": "g",
    "meters": "m", "meter": "m", "gigabytes": "gb", "megabytes": "mb", "dollars": "usd", "dollar": "usd",
    "$": "usd", "won": "원", "₩": "원", "개": "개", "times": "time", "items": "item", "people": "person",
}  # fmt: skip
_EN_UNITS = frozenset(
    {
        *("minute", "hour", "second", "day", "week", "month", "year", "time", "item", "person"),
        *("kg", "g", "mg", "lb", "lbs", "m", "km", "cm", "mm", "mile", "miles", "ft", "inch", "inches"),
        *("gb", "mb", "kb", "tb", "ghz", "mhz", "w", "kw", "v", "usd", "eur", "krw", "%", "am", "pm"),
        *("ms", "px", "pt", "l", "ml", "user", "users", "seat", "seats", "license", "licenses"),
        *("step", "steps", "page", "pages", "point", "points", "star", "stars", "piece", "pieces"),
    }
)
_DATE_UNITS = frozenset({"년", "월", "일", "시", "분", "요일", "year", "month", "day", "am", "pm"})
_EN_NEGATION = frozenset(
    {
        *("not", "no", "never", "none", "nobody", "nothing", "neither", "nor", "without", "cannot"),
        *("nowhere", "non", "unable"),
    }
)
#: Words that carry no meaning a cached answer depends on ("how do I" = "how can I" = "tell me how
#: to"); prepositions other than "to", comparatives and question words are NOT light.
_EN_LIGHT = frozenset(
    {
        *("a", "an", "the", "is", "are", "was", "were", "be", "been", "am", "do", "does", "did", "i", "me"),
        *("my", "mine", "we", "our", "us", "you", "your", "it", "its", "this", "that", "these", "those"),
        *("can", "could", "would", "should", "will", "shall", "may", "might", "please", "tell", "there"),
        *("here", "have", "has", "had", "of", "to", "and", "s", "d", "ll", "ve", "re", "m", "possible"),
        *("let", "know", "want", "way", "like", "just", "also", "any", "some", "so"),
        # The question frame: "how do I X" = "what should I do to X" = "what are the steps to X".
        *("how", "what", "what's", "steps", "step", "able", "need", "should"),
    }
)
#: Kiwi (form, tag) pairs that negate: 안/못 (adverbs), 않/말/못하 (auxiliaries), 없 (adjective),
#: 아니 (negative copula) and the negating prefixes 불/비/미/무 (불가능, 비회원, 미성년).
_KO_NEGATION = frozenset(
    {
        ("안", "MAG"), ("못", "MAG"), ("않", "VX"), ("않", "VV"), ("말", "VX"), ("못하", "VX"),
        ("못하", "VV"), ("없", "VA"), ("아니", "VCN"), ("불", "XPN"), ("비", "XPN"), ("미", "XPN"),
        ("무", "XPN"), ("없이", "MAG"),
    }
)  # fmt: skip
_KO_CONTENT_TAGS = frozenset({"NNG", "NNP", "NR", "VV", "VA", "XR", "SL", "SH"})
_KO_STOP = frozenset({"있", "하", "되", "않", "같", "없"})
#: Kiwi tags that are key words for the look-alike rule besides content: adverbs (더, 가장, 안),
#: determiners (몇, 이, 그), bound nouns (년, 개월), prefixes (불, 미) and number words.
_KO_KEY_TAGS = _KO_CONTENT_TAGS | {"MAG", "MM", "NNB", "XPN", "SN", "NP", "VX"}
#: The question frame, not its subject: "어떻게 하나요" = "방법이 뭔가요" = "하고 싶어요" = "할 수 있나요".
_KO_LIGHT = frozenset(
    {"수", "어떻", "방법", "뭐", "무엇", "싶", "가능", "궁금하", "알리", "주", "드리", "것", "거", "데", "법"}
)
#: Particles that change who does what where: case particles of place/direction/source/partner/
#: comparison and the auxiliaries of limit and inclusion. Subject/topic/object markers are left out:
#: paraphrases swap 은/는 and 이/가 freely.
_KO_PARTICLE_TAGS = frozenset({"JKB", "JX", "JC"})
_KO_PARTICLE_SKIP = frozenset({"은", "는", "ᆫ", "ᆫ은", "요"})
#: Allomorphs that are one particle: 으로/로, 과/와, 이랑/랑, 이나/나.
_KO_PARTICLE_CANON = {
    "으로": "로",
    "과": "와",
    "이랑": "랑",
    "이나": "나",
    "으로부터": "로부터",
    "으로서": "로서",
    "서": "에서",
}
#: A noun-like morpheme a particle attaches to.
_KO_NOUN_TAGS = frozenset({"NNG", "NNP", "NNB", "NR", "SL", "SN", "SH", "NP", "XSN"})


@cache
def _stem() -> Callable[[str], str]:
    import Stemmer

    return cache(Stemmer.Stemmer("english").stemWord)


@cache
def _en_stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    question_words = {"what", "when", "where", "which", "who", "whom", "whose", "why", "how", "can", "could"}
    return (frozenset(STOPWORDS_EN) | question_words) - _EN_NEGATION


_kiwi: Kiwi | None = None
_kiwi_lock = threading.Lock()


def _tokenize_ko(text: str) -> list[tuple[str, str, int, int]]:
    """(form, tag, start, end) from the verifier's own Kiwi, one caller at a time."""
    global _kiwi
    clean = _SURROGATE.sub("\ufffd", text)
    with _kiwi_lock:
        if _kiwi is None:
            from kiwipiepy import Kiwi

            _kiwi = Kiwi()
        tokens = _kiwi.tokenize(clean)
        return [(t.form, t.tag.split("-", 1)[0], t.start, t.start + t.len) for t in tokens]


#: Closed-class words that relate things (time, place, direction, comparison, limits) and verbs of
#: opposite direction: two of them are never synonyms, so a swap among them ("before" -> "after",
#: "이상" -> "미만") or a change of what one applies to ("from A to B" -> "from B to A") changes
#: what is asked, however high the cosine.
RELATION_WORDS = frozenset(
    {
        *("before", "after", "above", "below", "over", "under", "more", "less", "fewer", "greater"),
        *("higher", "lower", "up", "down", "from", "to", "into", "out", "on", "off", "with", "without"),
        *("least", "most", "earlier", "later", "first", "last", "next", "previous", "inside", "outside"),
        *("than", "between", "by", "for", "per", "until", "since", "toward", "towards", "onto"),
        *("import", "export", "upload", "download", "upgrade", "downgrade", "enable", "disable"),
        *("이상", "이하", "미만", "초과", "전", "후", "이전", "이후", "부터", "까지", "에서", "로", "으로"),
        *("에게", "한테", "보다", "위", "아래", "최소", "최대", "먼저", "나중", "다음", "지난", "안", "밖"),
    }
)

# ---- features -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuestionFeatures:
    """What a question commits to, computed once per cached question (store it with `to_json`)."""

    lang: str
    #: "value|unit" per number, unit canonical and possibly empty ("3|개월", "5|", "3|월" for March).
    numbers: tuple[str, ...]
    #: Names and codes as written (SolBox, KTX, A-12).
    entities: tuple[str, ...]
    #: Negation markers counted: "충전되지 않고 안 켜져요" has two, "충전되는데 안 켜져요" one.
    negations: int
    #: "noun|particle" for Korean nouns followed by a meaningful particle ("서울|에서").
    particles: tuple[str, ...]
    #: Content morphemes (Korean) / stems (English), sorted and unique.
    content: tuple[str, ...]
    #: The casefolded text without whitespace: an entity is "in" a question when it occurs here.
    compact: str
    #: Key words in order (the look-alike rule's input).
    keys: tuple[str, ...] = ()
    #: The key words as written (casefolded), for the reason a user reads.
    key_forms: tuple[str, ...] = ()
    #: First letters of every word and CamelCase part, casefolded: "ML" is explained by
    #: "Machine Learning", "TS" by "TypeScript".
    initials: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, data: str | dict[str, Any]) -> QuestionFeatures:
        raw = json.loads(data) if isinstance(data, str) else data
        return cls(
            lang=str(raw["lang"]),
            numbers=tuple(raw["numbers"]),
            entities=tuple(raw["entities"]),
            # Rows stored before negations were counted carry a bool "negated".
            negations=int(raw.get("negations", raw.get("negated", 0))),
            particles=tuple(raw["particles"]),
            content=tuple(raw["content"]),
            compact=str(raw["compact"]),
            keys=tuple(raw.get("keys", ())),
            key_forms=tuple(raw.get("key_forms", ())),
            initials=str(raw.get("initials", "")),
        )


def _unit(raw: str) -> str:
    unit = raw.casefold()
    return _UNIT_ALIASES.get(unit, unit)


def _codes(text: str) -> list[str]:
    out = []
    for m in _CODE.finditer(text):
        glued = _GLUED_UNIT.fullmatch(m.group())
        if glued is None or _unit(glued.group(1)) not in _EN_UNITS:
            out.append(m.group())
    return out


def _sentence_start(text: str, pos: int) -> bool:
    before = text[:pos].rstrip(" \t\"'`“‘(")
    return not before or before[-1] in ".!?:;\n"


#: "one" as a pronoun ("one can", "how can one", "which one", "one of them") is not the number 1.
_ONE_PRONOUN_NEXT = frozenset(
    {"can", "could", "may", "might", "must", "should", "would", "of", "another", "needs"}
)
_ONE_PRONOUN_PREV = frozenset(
    {
        *("the", "which", "this", "that", "each", "any", "no", "every", "new", "old"),
        *("can", "could", "may", "might", "must", "should", "would", "does", "will"),
    }
)


def _pronoun_one(prev: str, nxt: str) -> bool:
    return nxt in _ONE_PRONOUN_NEXT or prev in _ONE_PRONOUN_PREV


def _english_features(text: str) -> tuple[list[str], list[str], int, list[str], list[tuple[str, str]]]:
    """(numbers, entities, negated, content stems, key words) of English (or any non-Korean) text."""
    matches = list(_EN_TOKEN.finditer(text))
    tokens = [m.group() for m in matches]
    numbers: list[str] = []
    entities: list[str] = []
    content: list[str] = []
    keys: list[tuple[str, str]] = []
    negated = 0
    stop = _en_stopwords()
    for i, tok in enumerate(tokens):
        low = tok.casefold()
        base = low.split("'", 1)[0]
        nxt = tokens[i + 1].casefold() if i + 1 < len(tokens) else ""
        if low == "one" and _pronoun_one(tokens[i - 1].casefold() if i else "", nxt):
            continue  # a pronoun: "how can one X" = "how do I X"
        if base not in _EN_LIGHT and low not in _EN_LIGHT:
            if _NUMBER.fullmatch(low) or low in _EN_NUMBER_WORDS:
                key = _EN_NUMBER_WORDS.get(low, low.replace(",", ""))
            else:
                key = _stem()(base) + ("n't" if low.endswith("n't") else "")
            keys.append((key, low))
        if _NUMBER.fullmatch(tok) or low in _EN_NUMBER_WORDS:
            value = _EN_NUMBER_WORDS.get(low, tok.replace(",", ""))
            unit = _unit(nxt) if _unit(nxt) in _EN_UNITS else ""
            numbers.append(f"{value}|{unit}")
            continue
        if low in _MONTHS and (tok[0].isupper() and (low != "may" or i > 0)):
            numbers.append(f"{_MONTHS[low]}|월")
            continue
        if low in _EN_NEGATION or low.endswith("n't"):
            negated += 1
            continue
        inner_caps = any(c.isupper() for c in tok[1:])
        is_name = (
            tok[0].isupper()
            and base not in stop
            and (inner_caps or not _sentence_start(text, matches[i].start()))
        )
        if len(tok) > 1 and "'" not in tok and (is_name or tok.isupper()):
            entities.append(tok)
        if low not in stop and len(low) > 1:
            content.append(_stem()(low))
    entities.extend(_codes(text))
    return numbers, entities, negated, content, keys


def _korean_features(
    text: str,
) -> tuple[list[str], list[str], int, list[str], list[str], list[tuple[str, str]]]:
    """(numbers, entities, negated, content morphemes, noun|particle, key words) of Korean text."""
    tokens = _tokenize_ko(text)
    keys: list[tuple[str, str]] = []
    for form, tag, _, _ in tokens:
        if tag in _KO_PARTICLE_TAGS and form not in _KO_PARTICLE_SKIP:
            keys.append((_KO_PARTICLE_CANON.get(form, form), form))
        elif tag in _KO_KEY_TAGS and form not in _KO_STOP and form not in _KO_LIGHT:
            keys.append((_stem()(form.casefold()) if tag == "SL" else form, form.casefold()))
    numbers: list[str] = []
    entities: list[str] = []
    content: list[str] = []
    particles: list[str] = []
    negated = 0
    for i, (form, tag, _start, end) in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if tag == "SN" or (
            tag in ("MM", "NR") and form in _KO_NUMERALS and nxt is not None and nxt[1] == "NNB"
        ):
            value = form.replace(",", "") if tag == "SN" else _KO_NUMERALS[form]
            unit = ""
            # A unit is glued on ("3kg", "5일") or a bound noun after a space ("3 개월"); "SolBox 3
            # 배터리" is a number followed by a noun, not a unit.
            if nxt is not None and (
                (nxt[2] == end and nxt[1] in ("NNB", "NNG", "SL", "SW"))
                or (nxt[1] == "NNB" and nxt[2] - end <= 1)
            ):
                unit = _unit(nxt[0])
            numbers.append(f"{value}|{unit}")
            continue
        if (form, tag) in _KO_NEGATION:
            negated += 1
            continue
        if tag in ("NNP", "SL") or (tag == "SH"):
            entities.append(form)
        if tag in _KO_CONTENT_TAGS and form not in _KO_STOP:
            content.append(_stem()(form.casefold()) if tag == "SL" else form)
        # Subject/object markers (가/를) are left out: paraphrases trade them freely ("문자가 오지
        # 않았어요" / "문자를 못 받았어요"); measured, they cost more hits than the role swaps they catch.
        if (
            tag in _KO_NOUN_TAGS
            and nxt is not None
            and nxt[1] in _KO_PARTICLE_TAGS
            and nxt[0] not in _KO_PARTICLE_SKIP
        ):
            particles.append(f"{form}|{_KO_PARTICLE_CANON.get(nxt[0], nxt[0])}")
    entities.extend(_codes(text))
    return numbers, entities, negated, content, particles, keys


def question_language(text: str) -> str:
    """ "ko" when the text has Hangul, else "en" (the split QuestionFeatures.lang uses)."""
    return "ko" if _HANGUL.search(unicodedata.normalize("NFKC", text)) else "en"


def question_features(text: str) -> QuestionFeatures:
    """Features of one question (Korean analysis when it has Hangul, English rules otherwise)."""
    norm = unicodedata.normalize("NFKC", text)
    compact = "".join(norm.casefold().split())
    if _HANGUL.search(norm):
        numbers, entities, negated, content, particles, keys = _korean_features(norm)
        lang = "ko"
    else:
        numbers, entities, negated, content, keys = _english_features(norm)
        particles = []
        lang = "en"
    parts = [
        p
        for w in re.findall(r"[^\W_]+", norm)
        for p in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+|[^\W\d_a-zA-Z]+", w)
    ]
    return QuestionFeatures(
        lang=lang,
        numbers=tuple(numbers),
        entities=tuple(dict.fromkeys(entities)),
        negations=negated,
        particles=tuple(sorted(set(particles))),
        content=tuple(sorted(set(content))),
        compact=compact,
        keys=tuple(k for k, _ in keys),
        key_forms=tuple(f for _, f in keys),
        initials="".join(p[0] for p in parts).casefold(),
    )


# ---- checks -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """`ok`: the candidate may be served; `reasons`: what differs; `score`: content overlap (0-1)."""

    ok: bool
    reasons: list[str]
    score: float


def _label(item: str) -> tuple[str, str]:
    value, _, unit = item.partition("|")
    return (f"{value} {unit}" if unit.isascii() and unit.isalpha() else value + unit), unit


def _number_reasons(asked: Sequence[str], cached: Sequence[str]) -> list[str]:
    a_values = Counter(i.partition("|")[0] for i in asked)
    c_values = Counter(i.partition("|")[0] for i in cached)
    if a_values != c_values:
        only_a = sorted((Counter(asked) - Counter(cached)).elements())
        only_c = sorted((Counter(cached) - Counter(asked)).elements())
        left, unit_a = _label(only_a[0]) if only_a else ("(none)", "")
        right, unit_c = _label(only_c[0]) if only_c else ("(none)", "")
        kind = "date" if unit_a in _DATE_UNITS or unit_c in _DATE_UNITS else "number"
        return [f"{kind} {left} != {right}"]
    # Same values: a unit may still differ (3kg vs 3g). One side without a unit is a paraphrase.
    a_units = {i.partition("|")[0]: i.partition("|")[2] for i in asked}
    for item in cached:
        value, _, unit = item.partition("|")
        other = a_units.get(value, "")
        if unit and other and unit != other:
            return [f"unit {other} != {unit}"]
    return []


def number_conflict(asked: Sequence[str], cached: Sequence[str]) -> list[str]:
    """The number reasons when the numbers contradict: each side has a value the other lacks (3 vs
    5), or the same value in other units (3 kg vs 3 g). A number only one side states ("SolBox"
    vs "SolBox 2", "two steps: 1) ... 2) ..." vs "a two-step process") is not a contradiction."""
    reasons = _number_reasons(asked, cached)
    if not reasons:
        return []
    a_values = Counter(i.partition("|")[0] for i in asked)
    c_values = Counter(i.partition("|")[0] for i in cached)
    if (a_values - c_values) and (c_values - a_values):
        return reasons
    return reasons if reasons[0].startswith("unit") else []


def _missing(entities: Iterable[str], other: QuestionFeatures) -> list[str]:
    """The entities not found in `other`: neither as written nor as an acronym of its words."""
    out = []
    for e in entities:
        folded = "".join(e.casefold().split())
        if folded in other.compact:
            continue
        if e.isupper() and e.isalpha() and len(e) >= 2 and folded in other.initials:
            continue
        out.append(e)
    return out


def _same_words(gone: list[str], new: list[str]) -> bool:
    """A compound split differently (비밀번호 / 비밀 번호) or an acronym spelled out (ml / machine
    learning) is the same wording."""
    if "".join(gone) == "".join(new):
        return True
    for short, long in ((gone, new), (new, gone)):
        if len(short) == 1 and len(long) >= 2 and short[0] == "".join(w[0] for w in long if w):
            return True
    return False


def _align_compounds(
    keys: tuple[str, ...], forms: tuple[str, ...], other: tuple[str, ...]
) -> tuple[list[str], list[str]]:
    """Merge neighbours whose concatenation is one key of the other question: Kiwi splits a
    compound one way here and another there (배송 + 비 / 배송비, 보증 + 기간 / 보증기간)."""
    whole = set(other)
    out_k, out_f = list(keys[:1]), list(forms[:1])
    for key, form in zip(keys[1:], forms[1:], strict=True):
        if out_k and out_k[-1] + key in whole and key not in whole:
            out_k[-1] += key
            out_f[-1] += form
        else:
            out_k.append(key)
            out_f.append(form)
    return out_k, out_f


@dataclass(frozen=True)
class KeyDiff:
    """How two questions' key words (compounds aligned) differ: `same` words kept in order,
    `changed_asked` / `changed_cached` words on each side outside the kept runs, in `ops` edits."""

    same: int
    changed_asked: int
    changed_cached: int
    ops: Sequence[tuple[str, int, int, int, int]]
    asked_forms: list[str]
    cached_forms: list[str]


def key_diff(asked: QuestionFeatures, cached: QuestionFeatures) -> KeyDiff:
    """The edit between the two key-word sequences (the look-alike rule's and the pair model's input)."""
    a_forms = asked.key_forms if len(asked.key_forms) == len(asked.keys) else asked.keys
    c_forms = cached.key_forms if len(cached.key_forms) == len(cached.keys) else cached.keys
    a_keys, asked_forms = _align_compounds(asked.keys, a_forms, cached.keys)
    c_keys, cached_forms = _align_compounds(cached.keys, c_forms, tuple(a_keys))
    if a_keys == c_keys:
        return KeyDiff(len(a_keys), 0, 0, [], asked_forms, cached_forms)
    matcher = difflib.SequenceMatcher(None, a_keys, c_keys, autojunk=False)
    opcodes = matcher.get_opcodes()
    ops = [op for op in opcodes if op[0] != "equal"]
    same = sum(i2 - i1 for tag, i1, i2, _, _ in opcodes if tag == "equal")
    changed_a = sum(i2 - i1 for _, i1, i2, _, _ in ops)
    changed_c = sum(j2 - j1 for _, _, _, j1, j2 in ops)
    return KeyDiff(same, changed_a, changed_c, ops, asked_forms, cached_forms)


def _block_swap(a: Sequence[str], b: Sequence[str]) -> bool:
    """`b` is `a` with two adjacent blocks of words exchanged ("X of Y" -> "Y X"), not two words
    trading places around a third ("Word file to PDF" -> "PDF file to Word")."""
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    end_a, end_b = len(a), len(b)
    while end_a > start and end_b > start and a[end_a - 1] == b[end_b - 1]:
        end_a, end_b = end_a - 1, end_b - 1
    span_a, span_b = list(a[start:end_a]), list(b[start:end_b])
    return len(span_a) == len(span_b) and any(
        span_b == span_a[m:] + span_a[:m] for m in range(1, len(span_a))
    )


def _governed(forms: Sequence[str]) -> set[tuple[str, tuple[str, ...]]]:
    """(relation word, the key words after it up to the next relation word): what each "from",
    "before", "than" ... applies to ("from Windows 10 to Windows 11": from -> windows 10 windows 11)."""
    out: set[tuple[str, tuple[str, ...]]] = set()
    for i, f in enumerate(forms):
        if f in RELATION_WORDS:
            j = i + 1
            while j < len(forms) and forms[j] not in RELATION_WORDS:
                j += 1
            out.add((f, tuple(forms[i + 1 : j])))
    return out


def _substitution(
    asked: QuestionFeatures, cached: QuestionFeatures, limit: int, diff: KeyDiff | None = None
) -> str | None:
    """ "word X != Y" when the key words are the same in order but for a small swap, else None."""
    if limit <= 0 or asked.keys == cached.keys:
        return None
    d = diff or key_diff(asked, cached)
    if not d.ops:
        return None
    ops, same, changed_a, changed_c = d.ops, d.same, d.changed_asked, d.changed_cached
    asked_forms, cached_forms = d.asked_forms, d.cached_forms
    # A look-alike keeps most of its words: the swap is small and at least as many words are
    # shared as swapped (with "same >= 1" alone, measured, synonym swaps in short questions cost
    # about 9 points of paraphrase hits on the contrast set for 1 point fewer look-alike hits).
    if len(ops) > 2 or max(changed_a, changed_c) > limit or same < max(1, changed_a, changed_c):
        return None
    gone = [w for _, i1, i2, _, _ in ops for w in asked_forms[i1:i2]]
    new = [w for _, _, _, j1, j2 in ops for w in cached_forms[j1:j2]]
    if sorted(gone) == sorted(new):
        # Korean marks roles with particles (checked apart), so its phrases move freely;
        # English marks them by position: "from A to B" is not "from B to A" — but a phrase that
        # moves with its relations intact ("the SolBox 10 battery warranty" / "the battery
        # warranty of the SolBox 10") asks the same.
        if asked.lang == "ko" or (
            _block_swap(asked_forms, cached_forms) and _governed(asked_forms) == _governed(cached_forms)
        ):
            return None
        return f"word order differs ({' '.join(gone)})"
    if _same_words(gone, new):
        return None
    return f"word {' '.join(gone) or '(none)'} != {' '.join(new) or '(none)'}"


def _particle_reasons(asked: Sequence[str], cached: Sequence[str]) -> list[str]:
    a_map: dict[str, set[str]] = {}
    for item in asked:
        noun, _, particle = item.partition("|")
        a_map.setdefault(noun, set()).add(particle)
    for item in cached:
        noun, _, particle = item.partition("|")
        mine = a_map.get(noun)
        if mine and particle not in mine:
            return [f"particle {'/'.join(sorted(mine))} != {particle}"]
    return []


def content_overlap(asked: QuestionFeatures, cached: QuestionFeatures) -> float:
    """Jaccard of the content morphemes/stems (1.0 when neither has any)."""
    a, c = set(asked.content), set(cached.content)
    union = a | c
    return len(a & c) / len(union) if union else 1.0


class Verifier:
    """Decides whether a cached question may answer the asked one (see the module docstring)."""

    def __init__(self, cfg: CacheVerifyConfig | None = None) -> None:
        self.cfg = cfg or CacheVerifyConfig()

    def features(self, text: str) -> QuestionFeatures:
        return question_features(text)

    def hard_reasons(self, asked: QuestionFeatures, cached: QuestionFeatures) -> list[str]:
        """What differs, by the switched-on checks other than content overlap."""
        cfg = self.cfg
        reasons: list[str] = []
        if asked.lang != cached.lang:
            # The cached answer is in the cached question's language: never serve it across languages.
            return [f"language {asked.lang} != {cached.lang}"]
        if cfg.numbers:
            reasons += _number_reasons(asked.numbers, cached.numbers)
        if cfg.entities:
            # A swap (each side names something the other does not), not an addition: paraphrases
            # add and drop names ("2FA" for "two-factor authentication"); the look-alike rule
            # catches "the warranty" vs "the SolBox warranty".
            gone, new = _missing(cached.entities, asked), _missing(asked.entities, cached)
            if gone and new:
                reasons.append(f"entity {new[0]} != {gone[0]}")
        if cfg.negation and asked.negations != cached.negations:
            reasons.append("negation differs")
        if cfg.particles:
            reasons += _particle_reasons(asked.particles, cached.particles)
        if not reasons:
            swap = _substitution(asked, cached, cfg.max_substitution)
            if swap is not None:
                reasons.append(swap)
        return reasons

    def vetoes(self, asked: QuestionFeatures, cached: QuestionFeatures) -> list[str]:
        """Mode "model": the checks that reject whatever the model says. Language always; with
        `numbers`, contradicting numbers (3 vs 5, 3 kg vs 3 g; 1 of 851 fit paraphrases has one, a
        number one side adds or drops is left to the model); with `negation`, one side negated and
        the other not (calibration decides: 26 of 851 fit paraphrases differ so, "not mandatory" vs
        "optional"); with `particles`, a shared Korean noun with another particle (0 of 851).
        benchmarks/cache_pair_model.py prints the counts."""
        if asked.lang != cached.lang:
            return [f"language {asked.lang} != {cached.lang}"]
        reasons: list[str] = []
        if self.cfg.numbers:
            reasons += number_conflict(asked.numbers, cached.numbers)
        if self.cfg.negation and (asked.negations > 0) != (cached.negations > 0):
            reasons.append("negation differs")
        if self.cfg.particles:
            reasons += _particle_reasons(asked.particles, cached.particles)
        return reasons

    def check(
        self, asked: QuestionFeatures, cached: QuestionFeatures, *, cosine: float | None = None
    ) -> Verdict:
        """The verdict on serving `cached`'s answer for `asked`; with mode "off" everything passes.

        Mode "model" scores the pair with the pair model (`cosine`: the two questions' embedding
        cosine, which SemanticCache passes; without it the model's training mean stands in) and the
        verdict's `score` is that probability; otherwise `score` is the content overlap."""
        if self.cfg.mode == "model":
            return self._model_check(asked, cached, cosine)
        score = content_overlap(asked, cached)
        if self.cfg.mode == "off":
            return Verdict(True, [], score)
        reasons = self.hard_reasons(asked, cached)
        if score < self.cfg.min_content_overlap:
            reasons.append(f"content overlap {score:.2f} < {self.cfg.min_content_overlap:.2f}")
        return Verdict(not reasons, reasons, score)

    def _model_check(
        self, asked: QuestionFeatures, cached: QuestionFeatures, cosine: float | None
    ) -> Verdict:
        from llmpilot.cache.pairmodel import load_model, pair_features

        reasons = self.vetoes(asked, cached)
        if reasons:
            return Verdict(False, reasons, 0.0)
        model = load_model()
        feats = pair_features(asked, cached, float(model.mean[0]) if cosine is None else cosine)
        p = float(model.probabilities(feats.values[None, :])[0])
        if p >= self.cfg.min_probability:
            return Verdict(True, [], p)
        # The rule verdicts that fired say what differs; the model's probability says how much it weighs.
        why = f" ({'; '.join(feats.reasons)})" if feats.reasons else ""
        return Verdict(False, [f"pair model {p:.2f} < {self.cfg.min_probability:.2f}{why}"], p)
