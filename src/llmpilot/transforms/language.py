"""Document language detection: a Hangul fast path for Korean, langdetect for the rest."""

from __future__ import annotations

import re
import threading

UNDETERMINED = "und"

_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
_LETTER = re.compile(r"[^\W\d_]")
#: Share of letters that are Hangul above which a text counts as Korean. Hangul syllables carry
#: 2-3 Latin letters' worth of sound, so Korean text with English terms stays well above this.
KOREAN_SHARE = 0.3
#: Fewer letters than this (outside Korean) and the text is too short to call.
MIN_LETTERS = 12
#: langdetect's top probability below this is "unsure".
MIN_PROBABILITY = 0.7
#: Detection reads this many leading characters; more adds time, not accuracy.
SAMPLE_CHARS = 4000
#: English function words that are rare in other Latin-script languages. A text where they make
#: up this share of the words is English without asking langdetect (which costs ~2.5 ms a
#: document: 10% of ingest time next to a fast embedder).
_ENGLISH_MARKERS = frozenset(
    [
        "the",
        "of",
        "and",
        "to",
        "that",
        "is",
        "for",
        "with",
        "are",
        "this",
        "from",
        "by",
        "which",
        "was",
        "were",
        "be",
    ]
)
_ENGLISH_SHARE = 0.15
_MIN_WORDS = 20
_WORD = re.compile(r"[a-z]+")

_lock = threading.Lock()
_seeded = False


def detect_language(text: str) -> str:
    """ISO 639-1 code ("ko", "en", ...) of the text's main language, or "und" when empty,
    too short or unsure."""
    sample = text[:SAMPLE_CHARS]
    letters = len(_LETTER.findall(sample))
    if letters == 0:
        return UNDETERMINED
    hangul = len(_HANGUL.findall(sample))
    if hangul >= 2 and hangul / letters >= KOREAN_SHARE:
        return "ko"
    if letters < MIN_LETTERS:
        return UNDETERMINED
    words = _WORD.findall(sample[:2000].lower())
    if len(words) >= _MIN_WORDS and sum(w in _ENGLISH_MARKERS for w in words) / len(words) >= _ENGLISH_SHARE:
        return "en"
    return _langdetect(sample)


def _langdetect(sample: str) -> str:
    from langdetect import DetectorFactory, detect_langs
    from langdetect.lang_detect_exception import LangDetectException

    global _seeded
    with _lock:
        # langdetect samples randomly; a fixed seed makes re-ingests give the same answer.
        if not _seeded:
            DetectorFactory.seed = 0
            _seeded = True
        try:
            candidates = detect_langs(sample)
        except LangDetectException:
            return UNDETERMINED
    if not candidates or candidates[0].prob < MIN_PROBABILITY:
        return UNDETERMINED
    code: str = candidates[0].lang
    return code.split("-")[0]  # zh-cn / zh-tw -> zh
