"""Language-aware tokenizers for BM25, registered in `registry.tokenizers`.

A tokenizer is a callable `(texts) -> list[list[str]]` that works on a batch, so Korean morphological
analysis runs once over many texts. Kiwi takes about a second to construct: one instance per process,
created on first use and shared with the sentence chunker.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from llmpilot.errors import ModelNotAvailableError
from llmpilot.registry import tokenizers

if TYPE_CHECKING:
    from kiwipiepy import Kiwi

Tokenizer = Callable[[Sequence[str]], list[list[str]]]

#: Hangul syllables, jamo and compatibility jamo.
HANGUL_CLASS = "\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f"
_HANGUL_CHAR = re.compile(f"[{HANGUL_CLASS}]")
_HANGUL_RUN = re.compile(f"[{HANGUL_CLASS}]+")
#: Letters/digits that are not Hangul (Latin words, numbers, other scripts).
_NON_HANGUL_WORD = re.compile(f"[^\\W_{HANGUL_CLASS}]+")
#: As bm25s/scikit-learn: words of two or more word characters.
_EN_WORD = re.compile(r"(?u)\b\w\w+\b")

#: Share of Hangul among letters at or above which a text is treated as Korean.
KOREAN_THRESHOLD = 0.3

#: Kiwi tags kept by the morpheme tokenizer: nouns, verb/adjective stems, foreign words, numbers,
#: roots, Chinese characters, determiners. Irregular stems carry a suffix ("VV-I"), so match the base.
_KEPT_TAGS = ("NN", "VV", "VA", "SL", "SN", "XR", "SH", "MM")

_kiwi: Kiwi | None = None
_kiwi_lock = threading.Lock()


def get_kiwi() -> Kiwi:
    """The process-wide Kiwi analyzer (constructed once, lazily: it takes about a second)."""
    global _kiwi
    if _kiwi is None:
        with _kiwi_lock:
            if _kiwi is None:
                try:
                    from kiwipiepy import Kiwi
                except ImportError:  # pragma: no cover - kiwipiepy is a core dependency
                    raise ModelNotAvailableError(
                        "Korean analysis needs kiwipiepy: `pip install kiwipiepy`"
                    ) from None
                _kiwi = Kiwi()
    return _kiwi


def hangul_ratio(text: str) -> float:
    """Share of Hangul characters among the letters of `text` (0.0 when it has no letters)."""
    letters = sum(1 for ch in text if ch.isalpha())
    if letters == 0:
        return 0.0
    return len(_HANGUL_CHAR.findall(text)) / letters


def is_korean(text: str) -> bool:
    return hangul_ratio(text) >= KOREAN_THRESHOLD


class EnglishTokenizer:
    """Lowercased words, English stopwords removed, Snowball (Porter2) stems."""

    def __init__(self) -> None:
        import Stemmer
        from bm25s.stopwords import STOPWORDS_EN

        self._stemmer = Stemmer.Stemmer("english")
        self._stopwords = frozenset(STOPWORDS_EN)
        # Stemming is the slow part; corpora repeat words, so remember each word's stem.
        self._stems: dict[str, str] = {}

    def __call__(self, texts: Sequence[str]) -> list[list[str]]:
        out: list[list[str]] = []
        stems = self._stems
        for text in texts:
            words = [w for w in _EN_WORD.findall(text.lower()) if w not in self._stopwords]
            unknown = [w for w in dict.fromkeys(words) if w not in stems]
            if unknown:
                stems.update(zip(unknown, self._stemmer.stemWords(unknown), strict=True))
            out.append([stems[w] for w in words])
        return out


class KoreanMorphTokenizer:
    """Kiwi morphemes with content tags (nouns, stems, foreign words, numbers); Latin lowercased."""

    def __call__(self, texts: Sequence[str]) -> list[list[str]]:
        if not texts:
            return []
        kiwi = get_kiwi()
        out: list[list[str]] = []
        for tokens in kiwi.tokenize(list(texts)):
            kept: list[str] = []
            for tok in tokens:
                tag = tok.tag.split("-", 1)[0]
                if tag.startswith(_KEPT_TAGS):
                    kept.append(tok.form.lower() if tag == "SL" else tok.form)
            out.append(kept)
        return out


class KoreanBigramTokenizer:
    """Character bigrams inside Hangul runs (a one-syllable run is kept whole) + lowercased other words.

    Bigrams need no dictionary, so they match compounds and new words that a morpheme analyzer splits
    differently in a query and a document.
    """

    def __call__(self, texts: Sequence[str]) -> list[list[str]]:
        return [self._one(text) for text in texts]

    @staticmethod
    def _one(text: str) -> list[str]:
        tokens: list[str] = []
        for run in _HANGUL_RUN.findall(text):
            if len(run) == 1:
                tokens.append(run)
            else:
                tokens.extend(run[i : i + 2] for i in range(len(run) - 1))
        tokens.extend(w.lower() for w in _NON_HANGUL_WORD.findall(text))
        return tokens


class KoreanTokenizer:
    """Morphemes and bigrams in one bag: the best of the three on autorag-ko (REFERENCE-NUMBERS.md)."""

    def __init__(self) -> None:
        self._morph = KoreanMorphTokenizer()
        self._bigram = KoreanBigramTokenizer()

    def __call__(self, texts: Sequence[str]) -> list[list[str]]:
        morphs = self._morph(texts)
        bigrams = self._bigram(texts)
        return [m + b for m, b in zip(morphs, bigrams, strict=True)]


class AutoTokenizer:
    """Per text: the Korean tokenizer when Hangul is >= 30% of its letters, else the English one.

    Deciding per text (documents and queries alike) keeps a mixed corpus consistent: a Korean query
    meets Korean documents in the same token space.
    """

    def __init__(self) -> None:
        self._ko = KoreanTokenizer()
        self._en = EnglishTokenizer()

    def __call__(self, texts: Sequence[str]) -> list[list[str]]:
        korean = [is_korean(t) for t in texts]
        ko_out = iter(self._ko([t for t, k in zip(texts, korean, strict=True) if k]))
        en_out = iter(self._en([t for t, k in zip(texts, korean, strict=True) if not k]))
        return [next(ko_out) if k else next(en_out) for k in korean]


class WhitespaceTokenizer:
    """Lowercased whitespace split: a baseline with no language knowledge."""

    def __call__(self, texts: Sequence[str]) -> list[list[str]]:
        return [text.lower().split() for text in texts]


@tokenizers.register("en")
def _en() -> Tokenizer:
    return EnglishTokenizer()


@tokenizers.register("ko-morph")
def _ko_morph() -> Tokenizer:
    return KoreanMorphTokenizer()


@tokenizers.register("ko-bigram")
def _ko_bigram() -> Tokenizer:
    return KoreanBigramTokenizer()


@tokenizers.register("ko")
def _ko() -> Tokenizer:
    return KoreanTokenizer()


@tokenizers.register("auto")
def _auto() -> Tokenizer:
    return AutoTokenizer()


@tokenizers.register("whitespace")
def _whitespace() -> Tokenizer:
    return WhitespaceTokenizer()


def create_tokenizer(name: str) -> Tokenizer:
    """The tokenizer registered as `name` (ConfigError listing the known names otherwise)."""
    tokenizer: Tokenizer = tokenizers.create(name)
    return tokenizer
