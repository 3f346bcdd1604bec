"""Date recogniser for the `normalize_dates` plan step: rewrites dates as ISO YYYY-MM-DD.

One combined regex, one pass: alternatives never see each other's output, and a match consumes
its span so no alternative can re-match a piece of it. Every numeric alternative refuses to
start or end next to another digit (or a digit behind a separator), so parts of longer numbers,
phone numbers and versions such as 1.2.3 or 2024.1.2.3 are left alone. Impossible dates
(2024-02-30) are left as written.
"""

from __future__ import annotations

import datetime as dt
import re

_MONTHS = {
    "jan": 1,
    "january": 1,
    "feb": 2,
    "february": 2,
    "mar": 3,
    "march": 3,
    "apr": 4,
    "april": 4,
    "may": 5,
    "jun": 6,
    "june": 6,
    "jul": 7,
    "july": 7,
    "aug": 8,
    "august": 8,
    "sep": 9,
    "sept": 9,
    "september": 9,
    "oct": 10,
    "october": 10,
    "nov": 11,
    "november": 11,
    "dec": 12,
    "december": 12,
}
# Longest names first so "September" is not read as "Sep" + "tember".
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_ORDINAL = r"(?:st|nd|rd|th)?"
# Not preceded by a digit, nor by a digit and a separator (the tail of 1.2024.3.5).
_NO_DIGIT_BEFORE = r"(?<![0-9])(?<![0-9][./-])"
# Not followed by a digit, nor by a separator and a digit (the head of 2024.3.5.1).
_NO_DIGIT_AFTER = r"(?![0-9])(?![./-][0-9])"

_DATE = re.compile(
    _NO_DIGIT_BEFORE
    + r"(?:"
    # 2024년 3월 5일
    + r"(?P<ko>(?P<ko_y>[0-9]{4})\s*년\s*(?P<ko_m>[0-9]{1,2})\s*월\s*(?P<ko_d>[0-9]{1,2})\s*일)"
    # 2024. 3. 5. (Korean style: spaces after the dots; the final dot belongs to the date)
    + r"|(?P<kdot>(?P<kdot_y>[0-9]{4})\.\s+(?P<kdot_m>[0-9]{1,2})\.\s+(?P<kdot_d>[0-9]{1,2})\.?)"
    + _NO_DIGIT_AFTER
    # 2024-3-5, 2024/03/05, 2024.03.05 (one separator, used twice)
    + r"|(?P<ymd>(?P<ymd_y>[0-9]{4})(?P<ymd_sep>[-/.])(?P<ymd_m>[0-9]{1,2})(?P=ymd_sep)(?P<ymd_d>[0-9]{1,2}))"
    + _NO_DIGIT_AFTER
    # March 5, 2024 / Mar. 5th 2024
    + rf"|(?P<mdy>\b(?P<mdy_mon>{_MONTH})\b\.?\s+(?P<mdy_d>[0-9]{{1,2}}){_ORDINAL},?\s+(?P<mdy_y>[0-9]{{4}}))"
    + r"(?![0-9])"
    # 5 March 2024 / 5th Mar. 2024
    + rf"|(?P<dmy>(?P<dmy_d>[0-9]{{1,2}}){_ORDINAL}\s+(?P<dmy_mon>{_MONTH})\b\.?,?\s+(?P<dmy_y>[0-9]{{4}}))"
    + r"(?![0-9])"
    # 05/03/2024: day or month first, only rewritten when the plan says which
    + r"|(?P<num>(?P<num_a>[0-9]{1,2})(?P<num_sep>[-/.])(?P<num_b>[0-9]{1,2})(?P=num_sep)(?P<num_y>[0-9]{4}))"
    + _NO_DIGIT_AFTER
    + r")",
    re.IGNORECASE,
)


def _iso(year: str, month: int | str, day: str) -> str | None:
    """ISO date, or None for an impossible one (2024-02-30, month 13, year 0999)."""
    y, m, d = int(year), int(month), int(day)
    if y < 1000:
        return None
    try:
        return dt.date(y, m, d).isoformat()
    except ValueError:
        return None


def _rewrite(match: re.Match[str], day_first: bool | None) -> str | None:
    g = match.group
    if g("ko"):
        return _iso(g("ko_y"), g("ko_m"), g("ko_d"))
    if g("kdot"):
        return _iso(g("kdot_y"), g("kdot_m"), g("kdot_d"))
    if g("ymd"):
        return _iso(g("ymd_y"), g("ymd_m"), g("ymd_d"))
    if g("mdy"):
        return _iso(g("mdy_y"), _MONTHS[g("mdy_mon").lower()], g("mdy_d"))
    if g("dmy"):
        return _iso(g("dmy_y"), _MONTHS[g("dmy_mon").lower()], g("dmy_d"))
    if day_first is None:
        return None  # 05/03/2024 is 5 March or May 3: the plan must say
    first, second = g("num_a"), g("num_b")
    day, month = (first, second) if day_first else (second, first)
    return _iso(g("num_y"), month, day)


def normalize_dates(text: str, day_first: bool | None = None) -> tuple[str, int]:
    """Rewrite the dates in `text` as YYYY-MM-DD; returns the new text and how many dates changed
    (dates already in ISO form are not counted). dd/mm/yyyy vs mm/dd/yyyy is rewritten only when
    `day_first` is True or False."""
    changed = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal changed
        iso = _rewrite(match, day_first)
        if iso is None or iso == match.group(0):
            return match.group(0)
        changed += 1
        return iso

    return _DATE.sub(replace, text), changed
