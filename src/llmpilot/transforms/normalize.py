"""Unicode and whitespace normalization. Pure functions on strings."""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

UnicodeForm = Literal["NFC", "NFKC", "none"]

# Control characters other than tab and newline (NUL, form feed, C1 controls...) and invisible
# format characters that split words for search (zero-width space, BOM, soft hyphen, word joiner).
# Zero-width (non-)joiners stay: they carry meaning in emoji and some scripts.
_JUNK = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\u00ad\u2060\ufeff]")
# Horizontal whitespace of every kind: tab, NBSP, ideographic space, en/em spaces...
_HSPACE = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_BLANK_RUN = re.compile(r"\n{3,}")
# Line and page breaks written in other ways: CR, vertical tab (Word's soft break), form feed
# (PDF page break), Unicode line/paragraph separators.
_BREAKS = str.maketrans({"\r": "\n", "\v": "\n", "\f": "\n\n", "\u2028": "\n", "\u2029": "\n\n"})


def normalize_unicode(text: str, form: UnicodeForm) -> str:
    """NFC composes decomposed Hangul (common in text from macOS); NFKC also folds full-width
    letters and digits to ASCII."""
    if form == "none":
        return text
    return unicodedata.normalize(form, text)


def normalize_whitespace(text: str) -> str:
    """Collapse runs of spaces/tabs, trim each line, keep at most one blank line between
    paragraphs, drop control and zero-width characters. Paragraph breaks are kept because
    chunkers split on them."""
    text = text.replace("\r\n", "\n").translate(_BREAKS)
    text = _JUNK.sub("", text)
    lines = [_HSPACE.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_RUN.sub("\n\n", "\n".join(lines)).strip("\n")


def single_line(text: str) -> str:
    """Whitespace-normalized text on one line (for titles)."""
    return " ".join(_JUNK.sub("", text).split())
