"""PII redaction: emails, phone numbers, Korean resident registration numbers, payment cards.

Patterns are deliberately anchored on digit boundaries and validated (dates for RRNs, Luhn for
cards) so dates, prices, versions and long ids survive. Digits are ASCII only: use the NFKC
unicode setting to fold full-width digits first.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable

KINDS: tuple[str, ...] = ("email", "rrn", "card", "phone")

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![A-Za-z0-9-])"
)

# YYMMDD, optional hyphen, gender/century digit 1-8, six more digits.
_RRN = re.compile(r"(?<![0-9-])([0-9]{2})([0-9]{2})([0-9]{2})-?([1-8])[0-9]{6}(?![0-9])")
_RRN_CENTURY = {"1": 1900, "2": 1900, "5": 1900, "6": 1900, "3": 2000, "4": 2000, "7": 2000, "8": 2000}

# Cards: 13-19 contiguous digits, or groups of four with one consistent separator, or Amex 4-6-5.
_CARD = re.compile(
    r"(?<![0-9-])(?:"
    r"[0-9]{13,19}"
    r"|[0-9]{4}(?P<sep>[ -])[0-9]{4}(?P=sep)[0-9]{4}(?P=sep)[0-9]{1,4}(?:(?P=sep)[0-9]{1,3})?"
    r"|[0-9]{4}[ -][0-9]{6}[ -][0-9]{5}"
    r")(?![0-9]|-[0-9])"
)

_SEP = r"[-. ]?"
_PHONE = re.compile(
    r"(?<![0-9A-Za-z+-])(?:"
    # +82 (Korea): mobile or area code without its leading 0, optional "(0)".
    r"\+82[-. ]?(?:\(0\)[-. ]?)?(?:1[016789]|2|[3-6][1-5]|70)[-. ]?[0-9]{3,4}[-. ]?[0-9]{4}"
    # Korean mobile, with or without separators: 010-1234-5678, 010 1234 5678, 01012345678.
    r"|01[016789]" + _SEP + r"[0-9]{3,4}" + _SEP + r"[0-9]{4}"
    # Korean landlines and VoIP; separators required so plain digit runs stay: 02-123-4567, (031) 123-4567.
    r"|\(?0(?:2|[3-6][1-5]|70|50[0-9])\)?(?:[-. ]|\)\s?)[0-9]{3,4}[-. ][0-9]{4}"
    # Other international numbers written with a +country code.
    r"|\+(?!82)[1-9][0-9]{0,2}[-. ]?(?:\([0-9]{1,4}\)[-. ]?)?[0-9]{1,4}(?:[-. ][0-9]{2,4}){1,4}"
    # North American: (555) 123-4567, 555-123-4567, 555.123.4567, 1-555-123-4567.
    r"|(?:1[-. ])?(?:\([2-9][0-9]{2}\)\s?|[2-9][0-9]{2}[-. ])[0-9]{3}[-. ][0-9]{4}"
    r")(?![0-9]|[-.][0-9])"
)


def _valid_rrn(match: re.Match[str]) -> bool:
    yy, mm, dd, g = match.group(1), match.group(2), match.group(3), match.group(4)
    try:
        dt.date(_RRN_CENTURY[g] + int(yy), int(mm), int(dd))
    except ValueError:
        return False
    return True


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _valid_card(match: re.Match[str]) -> bool:
    digits = re.sub(r"[ -]", "", match.group(0))
    # All-same digits (0000 0000 ...) pass Luhn but are placeholders, not cards.
    return 13 <= len(digits) <= 19 and len(set(digits)) > 1 and luhn_valid(digits)


def _valid_phone(match: re.Match[str]) -> bool:
    digits = re.sub(r"[^0-9]", "", match.group(0))
    return 8 <= len(digits) <= 15


def _always(match: re.Match[str]) -> bool:
    return True


_RULES: dict[str, tuple[re.Pattern[str], Callable[[re.Match[str]], bool]]] = {
    "email": (_EMAIL, _always),
    "rrn": (_RRN, _valid_rrn),
    "card": (_CARD, _valid_card),
    "phone": (_PHONE, _valid_phone),
}


def redact(text: str, kinds: Iterable[str], replacement: str = "[{kind}]") -> tuple[str, dict[str, int]]:
    """Replace each PII match of `kinds` with `replacement` ("{kind}" is filled in).

    Returns the new text and the number of redactions per kind (only kinds found). Kinds run in
    a fixed order (email, rrn, card, phone) so digits inside an email or a card are not counted
    as a phone number.
    """
    wanted = set(kinds)
    unknown = wanted - set(KINDS)
    if unknown:
        raise ValueError(f"unknown PII kind(s): {', '.join(sorted(unknown))}; known: {', '.join(KINDS)}")
    counts: dict[str, int] = {}
    for kind in KINDS:
        if kind not in wanted:
            continue
        pattern, valid = _RULES[kind]
        token = replacement.replace("{kind}", kind)
        n = 0

        def sub(
            match: re.Match[str], valid: Callable[[re.Match[str]], bool] = valid, token: str = token
        ) -> str:
            nonlocal n
            if not valid(match):
                return match.group(0)
            n += 1
            return token

        text = pattern.sub(sub, text)
        if n:
            counts[kind] = n
    return text, counts
