"""The exact-cache key: two questions share a key only when they are the same question typed
differently (width, case, spacing, a closing "?" or surrounding quotes).

Nothing that can carry meaning is dropped: digits, signs, particles and every word stay, so
"3일" and "5일" or "서울에서" and "서울로" never share a key. Only punctuation at the very ends goes,
and at the start only quotes and brackets (a leading "-" may be a sign).
"""

from __future__ import annotations

import unicodedata

#: Quotes and brackets that wrap a question without changing it (after NFKC, so fullwidth forms
#: are already ASCII).
_QUOTES = "\"'`“”‘’„‟«»‹›「」『』〈〉《》()[]{}"
#: Closing punctuation: a question mark, full stop or exclamation says nothing about the content.
_CLOSERS = "?!.。？！…~"


def normalize_question(text: str) -> str:
    """NFKC, casefold, whitespace collapsed to single spaces, quotes/brackets stripped at both ends
    and closing ?/./!/… stripped at the end (repeatedly: '"Why?!"' -> 'why')."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    collapsed = " ".join(folded.split())
    start, end = 0, len(collapsed)
    while start < end and (collapsed[start] in _QUOTES or collapsed[start].isspace()):
        start += 1
    while end > start and (
        collapsed[end - 1] in _QUOTES or collapsed[end - 1] in _CLOSERS or collapsed[end - 1].isspace()
    ):
        end -= 1
    return collapsed[start:end]
