"""Robustness perturbations of benchmark items (HELM's robustness scenarios, plus Korean ones).

Each perturbation edits a fixed share (`rate`) of the eligible units of a text — Latin words for
typos, words for spacing, Hangul syllables for jamo — and every edit it makes changes the text, so
the share is exact up to rounding. Rounding is stochastic (⌊rate·n⌋, plus one with probability of
the fractional part): a benchmark's choices are often one or two words, and rounding to the nearest
integer would leave them all untouched at rate 0.1 while the expected share over a benchmark stays
`rate` this way.

Each item's edits come from its own generator, seeded by (seed, kind, item id), so an item is
perturbed the same way whatever subset (`--limit`) or order of the benchmark is run.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from llmpilot.errors import LlmpilotError
from llmpilot.models.types import Benchmark, MCItem

# --- typos (HELM's TyposPerturbation / NL-Augmenter butter fingers, on whole words) ---------------

#: Neighbouring keys on a QWERTY keyboard (letters only, so a substitution keeps the word a word).
_QWERTY_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_KEY_NEIGHBOURS: dict[str, str] = {}
for _r, _row in enumerate(_QWERTY_ROWS):
    for _c, _key in enumerate(_row):
        _near = []
        for _dr in (-1, 0, 1):
            _rr = _r + _dr
            if 0 <= _rr < len(_QWERTY_ROWS):
                for _dc in (-1, 0, 1):
                    _cc = _c + _dc
                    if (_dr, _dc) != (0, 0) and 0 <= _cc < len(_QWERTY_ROWS[_rr]):
                        _near.append(_QWERTY_ROWS[_rr][_cc])
        _KEY_NEIGHBOURS[_key] = "".join(_near)

#: A Latin word long enough to stay recognisable with one typo (HELM perturbs words of 4+ letters).
_LATIN_WORD = re.compile(r"[A-Za-z]{4,}")


def _typo(word: str, rng: random.Random) -> str:
    """One edit that always changes the word: swap two different adjacent letters, drop a letter,
    or replace one by a keyboard neighbour (case kept)."""
    op = rng.choice(("swap", "drop", "key"))
    if op == "swap":
        spots = [i for i in range(len(word) - 1) if word[i].lower() != word[i + 1].lower()]
        if spots:
            i = rng.choice(spots)
            return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        op = "key"  # "aaaa": no swap changes it
    i = rng.randrange(len(word))
    if op == "drop":
        return word[:i] + word[i + 1 :]
    near = rng.choice(_KEY_NEIGHBOURS[word[i].lower()])
    return word[:i] + (near.upper() if word[i].isupper() else near) + word[i + 1 :]


def typos(text: str, rng: random.Random, rate: float) -> str:
    """A `rate` share of the Latin words of 4+ letters get one typo each; all else is kept."""
    words = list(_LATIN_WORD.finditer(text))
    chosen = set(_sample(len(words), rate, rng))
    parts, end = [], 0
    for n, m in enumerate(words):
        parts.append(text[end : m.start()])
        parts.append(_typo(m.group(), rng) if n in chosen else m.group())
        end = m.end()
    parts.append(text[end:])
    return "".join(parts)


# --- spacing (띄어쓰기 errors; any script) ----------------------------------------------------------

_WORD = re.compile(r"\S+")


def spacing(text: str, rng: random.Random, rate: float) -> str:
    """A `rate` share of the words (eojeol in Korean) get one spacing error: the spaces after the
    word are dropped (joined to the next word, the commonest 띄어쓰기 error), or — for the last word,
    a word followed by a line break, or by a coin flip — a space is inserted inside the word between
    two of its characters. A one-character word at the end has neither and is left alone, so it is
    not eligible. Only spaces change: the text without whitespace is the same."""
    words = list(_WORD.finditer(text))

    def gap_after(n: int) -> str | None:
        """The spaces between word n and the next, when only spaces (no line break) separate them."""
        if n + 1 >= len(words):
            return None
        gap = text[words[n].end() : words[n + 1].start()]
        return gap if set(gap) == {" "} else None

    eligible = [n for n, w in enumerate(words) if gap_after(n) is not None or len(w.group()) >= 2]
    chosen = {eligible[i] for i in _sample(len(eligible), rate, rng)}
    parts, end = [], 0
    for n, m in enumerate(words):
        parts.append(text[end : m.start()])
        word = m.group()
        end = m.end()
        if n not in chosen:
            parts.append(word)
            continue
        gap = gap_after(n)
        if gap is not None and (len(word) < 2 or rng.random() < 0.5):
            parts.append(word)
            end += len(gap)  # skip the gap: this word and the next run together
        else:
            i = rng.randrange(1, len(word))
            parts.append(word[:i] + " " + word[i:])
    parts.append(text[end:])
    return "".join(parts)


# --- jamo (Korean syllables, decomposed) ------------------------------------------------------------

_SYLLABLE_FIRST, _SYLLABLE_LAST = 0xAC00, 0xD7A3
_N_MEDIALS, _N_FINALS = 21, 28
#: Compatibility jamo (what a keyboard shows) for the initial, medial and final indices of a syllable.
_INITIAL_JAMO = "ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ"
_MEDIAL_JAMO = "ㅏㅐㅑㅒㅓㅔㅕㅖㅗㅘㅙㅚㅛㅜㅝㅞㅟㅠㅡㅢㅣ"
_FINAL_JAMO = ["", *"ㄱㄲㄳㄴㄵㄶㄷㄹㄺㄻㄼㄽㄾㄿㅀㅁㅂㅄㅅㅆㅇㅈㅊㅋㅌㅍㅎ"]
#: Vowels that sound or look alike (the usual spelling confusions: 애/에, 외/왜/웨, 어/여, …).
_VOWEL_NEIGHBOURS: dict[str, str] = {
    "ㅏ": "ㅑㅓ",
    "ㅐ": "ㅔㅒ",
    "ㅑ": "ㅏㅕ",
    "ㅒ": "ㅖㅐ",
    "ㅓ": "ㅕㅗㅏ",
    "ㅔ": "ㅐㅖ",
    "ㅕ": "ㅓㅑ",
    "ㅖ": "ㅒㅔ",
    "ㅗ": "ㅛㅓㅜ",
    "ㅘ": "ㅝ",
    "ㅙ": "ㅚㅞ",
    "ㅚ": "ㅙㅞ",
    "ㅛ": "ㅗㅠ",
    "ㅜ": "ㅠㅡㅗ",
    "ㅝ": "ㅘ",
    "ㅞ": "ㅙㅚ",
    "ㅟ": "ㅢ",
    "ㅠ": "ㅜㅛ",
    "ㅡ": "ㅜㅣ",
    "ㅢ": "ㅡㅣㅟ",
    "ㅣ": "ㅢㅡ",
}
#: Final consonants pronounced alike at the end of a syllable (ㄷ/ㅅ/ㅆ/ㅈ/ㅊ/ㅌ/ㅎ all sound [t], ㄱ/ㄲ/ㅋ
#: [k], ㅂ/ㅍ [p]) or close (ㄴ/ㅇ/ㅁ), and "" (the final dropped).
_FINAL_NEIGHBOURS: dict[str, tuple[str, ...]] = {}
for _group in (
    ("ㄷ", "ㅅ", "ㅆ", "ㅈ", "ㅊ", "ㅌ", "ㅎ"),
    ("ㄱ", "ㄲ", "ㅋ"),
    ("ㅂ", "ㅍ"),
    ("ㄴ", "ㅇ", "ㅁ"),
):
    for _final in _group:
        _FINAL_NEIGHBOURS[_final] = (*(f for f in _group if f != _final), "")
for _final in _FINAL_JAMO[1:]:
    _FINAL_NEIGHBOURS.setdefault(_final, ("",))  # ㄹ and the double finals: dropped


def is_syllable(char: str) -> bool:
    return _SYLLABLE_FIRST <= ord(char) <= _SYLLABLE_LAST


def decompose(syllable: str) -> tuple[int, int, int]:
    """(initial, medial, final) indices of a precomposed Hangul syllable (final 0 = none)."""
    code = ord(syllable) - _SYLLABLE_FIRST
    return code // (_N_MEDIALS * _N_FINALS), (code // _N_FINALS) % _N_MEDIALS, code % _N_FINALS


def compose(initial: int, medial: int, final: int) -> str:
    return chr(_SYLLABLE_FIRST + (initial * _N_MEDIALS + medial) * _N_FINALS + final)


def _jamo_error(syllable: str, rng: random.Random) -> str:
    """One of three edits, each of which changes the syllable:
    "vowel" — the medial vowel becomes a look/sound-alike (게 → 개);
    "final" — the final consonant becomes a sound-alike or is dropped (있 → 잇, 닭 → 다);
      a syllable without a final gets a vowel edit instead;
    "split" — the syllable is written as separate compatibility jamo, as when an IME fails to
      compose (한 → ㅎㅏㄴ)."""
    initial, medial, final = decompose(syllable)
    op = rng.choice(("vowel", "final", "split"))
    if op == "split":
        return _INITIAL_JAMO[initial] + _MEDIAL_JAMO[medial] + _FINAL_JAMO[final]
    if op == "final" and final:
        new_final = rng.choice(_FINAL_NEIGHBOURS[_FINAL_JAMO[final]])
        return compose(initial, medial, _FINAL_JAMO.index(new_final))
    new_vowel = rng.choice(_VOWEL_NEIGHBOURS[_MEDIAL_JAMO[medial]])
    return compose(initial, _MEDIAL_JAMO.index(new_vowel), final)


def jamo(text: str, rng: random.Random, rate: float) -> str:
    """A `rate` share of the Hangul syllables get one jamo-level error (`_jamo_error`); text without
    Hangul syllables is returned unchanged."""
    spots = [i for i, char in enumerate(text) if is_syllable(char)]
    chosen = {spots[i] for i in _sample(len(spots), rate, rng)}
    return "".join(_jamo_error(char, rng) if i in chosen else char for i, char in enumerate(text))


# --- the registry -----------------------------------------------------------------------------------


def _sample(n: int, rate: float, rng: random.Random) -> list[int]:
    """Indices of the units to edit: ⌊rate·n⌋ of n, one more with probability frac(rate·n)."""
    expected = rate * n
    k = math.floor(expected)
    if rng.random() < expected - k:
        k += 1
    return sorted(rng.sample(range(n), min(k, n)))


@dataclass(frozen=True)
class Perturbation:
    name: str
    #: Share of the eligible units (words, syllables) edited, one edit each.
    rate: float
    edit: Callable[[str, random.Random, float], str]
    description: str

    def __call__(self, text: str, rng: random.Random, rate: float | None = None) -> str:
        return self.edit(text, rng, self.rate if rate is None else rate)


#: Default shares. HELM's typo perturbation swaps letters for keyboard neighbours with a small
#: probability per letter; one edit on a fifth of the longer words is of that order. The spacing and jamo
#: rates keep the text easy for a person to read: noise a reader shrugs off, not a different text.
PERTURBATIONS: dict[str, Perturbation] = {
    p.name: p
    for p in (
        Perturbation(
            "typos",
            0.2,
            typos,
            "one keyboard typo (swap, drop, neighbour key) in 20% of the Latin words of 4+ letters",
        ),
        Perturbation("spacing", 0.2, spacing, "a spacing error (words joined or split) in 20% of the words"),
        Perturbation(
            "jamo",
            0.1,
            jamo,
            "a jamo-level error (vowel, final consonant, unjoined jamo) in 10% of the Hangul syllables",
        ),
    )
}


def perturbation(kind: str) -> Perturbation:
    found = PERTURBATIONS.get(kind)
    if found is None:
        raise LlmpilotError(f"unknown perturbation {kind!r}; use one of {', '.join(PERTURBATIONS)}")
    return found


def item_rng(seed: int, kind: str, item_id: str) -> random.Random:
    """The item's own generator: string seeds hash with SHA-512, the same in every process."""
    return random.Random(f"{seed}\x1f{kind}\x1f{item_id}")


def perturb_item(item: MCItem, kind: str, seed: int = 0, rate: float | None = None) -> MCItem:
    """The item with its question and each choice perturbed; id, subject, answer and lang kept."""
    p = perturbation(kind)
    rng = item_rng(seed, kind, item.id)
    return replace(
        item,
        question=p(item.question, rng, rate),
        choices=tuple(p(choice, rng, rate) for choice in item.choices),
    )


def perturb_benchmark(bench: Benchmark, kind: str, seed: int = 0, rate: float | None = None) -> Benchmark:
    """The benchmark with every item perturbed (`kind` from PERTURBATIONS; `rate` overrides the
    kind's default share). Deterministic for (seed, kind, item id)."""
    perturbation(kind)  # an unknown kind fails before any work, also on an empty benchmark
    if rate is not None and not 0.0 <= rate <= 1.0:
        raise LlmpilotError(f"perturbation rate {rate} is outside 0..1")
    items = tuple(perturb_item(item, kind, seed, rate) for item in bench.items)
    return replace(bench, items=items, source=f"{bench.source} (perturbed: {kind}, seed {seed})")
