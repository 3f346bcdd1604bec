"""Topic allow/deny lists: words or phrases, any language.

English (Latin-script) terms match on word boundaries, case-insensitively, with an optional plural
"s"; Korean terms match as substrings with spaces ignored, because particles attach to nouns
(주식을, 주식투자) and spacing varies (주식 투자).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

_HANGUL = re.compile(r"[\uac00-\ud7a3\u3131-\u318e]")


def _term_pattern(term: str) -> re.Pattern[str]:
    term = unicodedata.normalize("NFKC", term).strip()
    if _HANGUL.search(term):
        return re.compile(r"\s*".join(re.escape(ch) for ch in term.replace(" ", "")))
    words = r"\s+".join(re.escape(w) for w in term.split())
    # English plurals: battery -> batteries, tip -> tips, box -> boxes.
    plural = (
        rf"{words[:-1]}(?:y|ies)" if re.search(r"[^aeiou]y$", term, re.IGNORECASE) else rf"{words}(?:e?s)?"
    )
    return re.compile(rf"\b{plural}\b", re.IGNORECASE)


class TopicMatcher:
    """Which configured terms a text mentions."""

    def __init__(self, terms: Sequence[str]):
        self.terms = [t for t in terms if t.strip()]
        self._patterns = [_term_pattern(t) for t in self.terms]

    def mentioned(self, text: str) -> list[str]:
        probe = unicodedata.normalize("NFKC", text)
        return [t for t, p in zip(self.terms, self._patterns, strict=True) if p.search(probe)]
