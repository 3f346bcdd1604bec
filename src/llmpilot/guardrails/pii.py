"""PII spans in questions and answers: the validated patterns of `llmpilot.transforms.pii` (email,
Korean resident registration numbers with their date check, payment cards with Luhn, phone numbers)
plus Korean bank account numbers.

Account numbers have no checksum, and their digit groups look like many other ids, so a digit
sequence counts as an account only when it has a bank's group layout *and* an account word
(계좌, 통장, 입금, a bank's name, "account", "bank", ...) stands within `CONTEXT_CHARS` of it; phones,
cards and RRNs are claimed first so their digits never become an "account".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from llmpilot.transforms.pii import _RULES as TRANSFORM_RULES

#: Detection order: earlier kinds claim their characters first (an email's digits are not a phone).
KINDS: tuple[str, ...] = ("email", "rrn", "card", "phone", "account")

#: Layouts of Korean bank account numbers (digit groups joined by "-" or " "): KB 6-2-6 and 3-2-4-3,
#: Shinhan 3-3-6, Woori 4-3-6, Hana 3-6-5, NH 3-4-4-2 and 6-2-6, IBK 3-6-2-3, Kakao 4-2-7,
#: Toss 4-4-4, SC 3-2-6, plus the 3-2-6 / 3-6-5 / 4-2-7 families with neighbouring group sizes.
_LAYOUTS: tuple[tuple[int, ...], ...] = (
    (6, 2, 6),
    (3, 2, 4, 3),
    (3, 3, 6),
    (4, 3, 6),
    (3, 6, 5),
    (3, 4, 4, 2),
    (3, 6, 2, 3),
    (4, 2, 7),
    (4, 4, 4),
    (3, 2, 6),
    (3, 2, 5),
    (3, 3, 5),
    (4, 2, 6),
    (3, 6, 4),
    (6, 2, 5),
)


def _layout_pattern(groups: tuple[int, ...]) -> str:
    return r"[- ]".join(f"[0-9]{{{n}}}" for n in groups)


_ACCOUNT = re.compile(
    r"(?<![0-9-])(?:"
    + "|".join(_layout_pattern(g) for g in sorted(_LAYOUTS, key=len, reverse=True))
    # Unseparated: 10-14 digits (the layouts above without their hyphens).
    + r"|[0-9]{10,14}"
    + r")(?![0-9]|-[0-9])"
)
#: Characters either side of a candidate searched for an account word.
CONTEXT_CHARS = 24
_ACCOUNT_WORDS = re.compile(
    # Bank names only where they cannot be ordinary words (하나 "one", 우리 "we", 기업 "company"):
    # "X은행" and "X뱅크" are covered by 은행/뱅크.
    r"계좌|통장|입금|송금|이체|예금주|은행|뱅크|농협|신협|수협|새마을금고|우체국|(?-i:(?<![A-Za-z])(?:KB|NH|IBK|SC)(?![A-Za-z]))"
    r"|\b(?:account|acct|a/c|bank|banking|iban|deposit|transfer|wire|routing)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class PiiSpan:
    start: int
    end: int
    kind: str


def _valid_account(text: str, match: re.Match[str]) -> bool:
    window = text[max(0, match.start() - CONTEXT_CHARS) : match.end() + CONTEXT_CHARS]
    return _ACCOUNT_WORDS.search(window) is not None


def find_pii(text: str, kinds: Iterable[str] = KINDS) -> list[PiiSpan]:
    """Non-overlapping PII spans of `kinds` in `text`, in text order."""
    wanted = set(kinds)
    unknown = wanted - set(KINDS)
    if unknown:
        raise ValueError(f"unknown PII kind(s): {', '.join(sorted(unknown))}; known: {', '.join(KINDS)}")
    taken: list[PiiSpan] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s.start or start >= s.end for s in taken)

    for kind in KINDS:
        if kind not in wanted:
            continue
        if kind == "account":
            for m in _ACCOUNT.finditer(text):
                if free(m.start(), m.end()) and _valid_account(text, m):
                    taken.append(PiiSpan(m.start(), m.end(), kind))
            continue
        pattern, valid = TRANSFORM_RULES[kind]
        for m in pattern.finditer(text):
            if free(m.start(), m.end()) and valid(m):
                taken.append(PiiSpan(m.start(), m.end(), kind))
    return sorted(taken, key=lambda s: s.start)


def redact_spans(text: str, spans: Iterable[PiiSpan], replacement: str = "[{kind}]") -> str:
    """`text` with each span replaced by `replacement` ("{kind}" filled in)."""
    out: list[str] = []
    pos = 0
    for span in sorted(spans, key=lambda s: s.start):
        out.append(text[pos : span.start])
        out.append(replacement.replace("{kind}", span.kind))
        pos = span.end
    out.append(text[pos:])
    return "".join(out)


def kind_counts(spans: Iterable[PiiSpan]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for span in spans:
        counts[span.kind] = counts.get(span.kind, 0) + 1
    return counts
