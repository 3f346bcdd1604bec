"""Korean and English profanity lists (`data/profanity-{en,ko}.txt`, provenance in their headers).

English entries match on word boundaries (so "Scunthorpe" and "class" survive; "re:" entries are
regular expressions, for masked spellings like "f*ck"); Korean entries match
as substrings, because particles attach to words (씨발아, 병신같은), with per-entry lookaheads that
spare ordinary words containing them (시발점, 시발역). Matches are masked with "*" of the same length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from llmpilot.errors import ConfigError


@dataclass(frozen=True)
class ProfanityMatch:
    start: int
    end: int
    lang: str


def _english(entry: str) -> str:
    if entry.startswith("re:"):
        return entry[3:]
    parts = [re.escape(p) for p in entry.split("*")]
    return r"\b" + r"\w*".join(parts) + r"\b" if len(parts) > 1 else r"\b" + parts[0] + r"\b"


def _korean(entry: str) -> str:
    word, _, spare = entry.partition(" !")
    pattern = re.escape(word)
    if spare:
        pattern += "(?!" + "|".join(re.escape(s) for s in spare.split("|")) + ")"
    return pattern


def _entries(lang: str) -> list[str]:
    name = f"profanity-{lang}.txt"
    text = (resources.files("llmpilot.guardrails") / "data" / name).read_text(encoding="utf-8")
    entries = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if not entries:
        raise ConfigError(f"{name} holds no entries")
    return entries


@lru_cache(maxsize=1)
def _patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    en = "|".join(_english(e) for e in sorted(_entries("en"), key=len, reverse=True))
    ko = "|".join(_korean(e) for e in sorted(_entries("ko"), key=len, reverse=True))
    return (("en", re.compile(en, re.IGNORECASE)), ("ko", re.compile(ko)))


def find_profanity(text: str) -> list[ProfanityMatch]:
    """Profane words of either list in `text`, in text order."""
    found = [ProfanityMatch(m.start(), m.end(), lang) for lang, p in _patterns() for m in p.finditer(text)]
    return sorted(found, key=lambda m: m.start)


def mask(text: str, matches: list[ProfanityMatch]) -> str:
    chars = list(text)
    for m in matches:
        chars[m.start : m.end] = "*" * (m.end - m.start)
    return "".join(chars)
