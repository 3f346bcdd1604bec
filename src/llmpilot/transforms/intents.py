"""Rules without a model: plan steps from a data profile's findings, and from a plain-language request
(Korean or English keywords) mapped onto those findings.

Steps are built as the dicts a plan file holds (`parse_plan` validates them), each with a `why` the user
reads. A request keyword that names something the profile did not find (a footer in documents without
one) gives a note instead of a step that would match nothing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmpilot.transforms.pii import KINDS
from llmpilot.transforms.plan import line_pattern

#: A plan step as a plan file holds it: {"op": ..., fields..., "why": ...}.
Step = dict[str, Any]

#: A boilerplate finding counts when this share of the documents carries it (and at least 2 do):
#: text repeated in a handful of a large corpus's documents is more likely content than a template.
BOILERPLATE_MIN_SHARE = 0.1
#: filter_length's default floor: below this a document holds no retrievable content.
MIN_CHARS = 30
TOC_START = r"^(목차|차례|Contents|Table of Contents)\s*:?$"
#: Markdown headings (what "split on headings" means).
HEADING_PATTERN = r"^#{1,6}\s+\S"
#: Page-number lines when the profile has no varying-number pattern: "12", "- 12 -", "Page 3 of 10", "3 쪽".
PAGE_NUMBER_PATTERN = (
    r"^\s*(?:-\s*)?\d{1,4}(?:\s*-)?\s*$"
    r"|^\s*(?:page|p\.)\s*\d{1,4}(?:\s*(?:/|of)\s*\d{1,4})?\s*$"
    r"|^\s*\d{1,4}\s*(?:/\s*\d{1,4}\s*)?(?:쪽|페이지)\s*$"
)
#: The order steps run in: removals before redaction (no redacted tokens left in dropped text to
#: confuse review), normalisation before deduplication, filters last (they judge the cleaned text).
OP_ORDER = (
    "drop_block",
    "drop_lines",
    "drop_section",
    "keep_section",
    "regex_replace",
    "split_documents",
    "extract_field",
    "redact_pii",
    "normalize_dates",
    "normalize_numbers",
    "deduplicate",
    "drop_documents",
    "filter_language",
    "filter_length",
)


# ---- profile findings ------------------------------------------------------------------------


@dataclass(frozen=True)
class Boilerplate:
    text: str
    count: int
    kind: str  # "line" | "block"
    position: str  # "start" | "end" | "middle"
    lines: int
    #: A regex for lines that vary only in a number (page numbers), when the profile found one.
    pattern: str | None = None

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> Boilerplate:
        pattern = entry.get("pattern")
        return cls(
            text=str(entry.get("text", "")),
            count=int(entry.get("count", 0)),
            kind=str(entry.get("kind", "line")),
            position=str(entry.get("position", "middle")),
            lines=int(entry.get("lines", 1)),
            pattern=str(pattern) if pattern else None,
        )

    @property
    def is_page_number(self) -> bool:
        """A digit-varying line that is a page number ("- 3 -", "Page 3 of 10", "3 쪽"), not, say, a
        templated sentence with an order number in it."""
        if self.pattern is None:
            return False
        text = self.text.strip()
        return bool(re.fullmatch(PAGE_NUMBER_PATTERN, text, re.IGNORECASE)) or (
            len(text) <= 40 and bool(re.search(r"\bpage\b|\bp\.|쪽|페이지", text, re.IGNORECASE))
        )


@dataclass(frozen=True)
class ProfileFacts:
    """What the rules read from `DataProfile.as_dict()` (read by key, so extra keys do no harm)."""

    documents: int
    boilerplate: tuple[Boilerplate, ...] = ()
    pii: Mapping[str, int] = field(default_factory=dict)
    exact_duplicates: int = 0
    near_duplicates: int = 0
    short_documents: int = 0
    toc: int = 0
    languages: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProfileFacts:
        documents = int(data.get("documents", 0))
        threshold = max(2, math.ceil(documents * BOILERPLATE_MIN_SHARE))
        found = (Boilerplate.from_dict(entry) for entry in data.get("boilerplate") or [])
        duplicates = data.get("duplicates") or {}
        return cls(
            documents=documents,
            boilerplate=tuple(b for b in found if b.text.strip() and b.count >= threshold),
            pii={str(k): int(n) for k, n in (data.get("pii") or {}).items() if int(n) > 0},
            exact_duplicates=int(duplicates.get("exact", 0)),
            near_duplicates=int(duplicates.get("near", 0)),
            short_documents=len(data.get("empty") or []) + len(data.get("near_empty") or []),
            toc=int((data.get("sections") or {}).get("toc", 0)),
            languages={str(k): int(n) for k, n in (data.get("languages") or {}).items()},
        )


# ---- steps from findings ----------------------------------------------------------------------

_POSITION_VERB = {"start": "begin with", "end": "end with", "middle": "contain"}
_POSITION_NOUN = {"start": "header", "end": "footer", "middle": "block"}


def _shorten(text: str, limit: int = 60) -> str:
    one_line = " / ".join(line.strip() for line in text.strip().splitlines())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def boilerplate_step(found: Boilerplate, documents: int) -> Step:
    """drop_block for a repeated block, drop_lines for a repeated line (its exact text, or the profile's
    pattern when the line varies only in a page number)."""
    share = f"{found.count} of {documents} documents {_POSITION_VERB.get(found.position, 'contain')}"
    if found.kind == "block":
        noun = _POSITION_NOUN.get(found.position, "block")
        why = f"{share} the same {found.lines}-line {noun}: {_shorten(found.text)!r}"
        return {"op": "drop_block", "text": found.text, "why": why}
    if found.pattern is not None:
        why = f"{share} a line like {_shorten(found.text)!r} that differs only in a number"
        return {"op": "drop_lines", "pattern": found.pattern, "why": why}
    why = f"{share} the same line {_shorten(found.text)!r}"
    return {"op": "drop_lines", "pattern": line_pattern(found.text), "why": why}


def boilerplate_steps(found: Sequence[Boilerplate], documents: int) -> list[Step]:
    """Blocks first, then lines that are not just a line of a chosen block (removing the block
    already removes them; a second step would match nothing)."""
    blocks = [b for b in found if b.kind == "block"]
    block_lines = {line.strip(): b.count for b in blocks for line in b.text.splitlines() if line.strip()}
    lines = [
        b
        for b in found
        if b.kind != "block"
        and not (b.text.strip() in block_lines and b.count <= block_lines[b.text.strip()])
    ]
    return [boilerplate_step(b, documents) for b in [*blocks, *lines]]


def redact_step(kinds: Sequence[str], facts: ProfileFacts) -> Step:
    ordered = [k for k in KINDS if k in kinds]
    found = ", ".join(f"{facts.pii[k]} {k}" for k in ordered if facts.pii.get(k))
    why = f"the sample holds {found}" if found else f"asked to redact {', '.join(ordered)}"
    return {"op": "redact_pii", "kinds": ordered, "why": why}


def dedup_step(facts: ProfileFacts, near: bool) -> Step:
    why = f"{facts.exact_duplicates} exact and {facts.near_duplicates} near duplicate documents"
    return {"op": "deduplicate", "near": near, "why": why}


def toc_step(facts: ProfileFacts) -> Step:
    why = (
        f"{facts.toc} documents have a table of contents" if facts.toc else "asked to drop tables of contents"
    )
    return {"op": "drop_section", "start": TOC_START, "ignore_case": True, "why": why}


def short_step(facts: ProfileFacts, min_chars: int = MIN_CHARS) -> Step:
    why = f"{facts.short_documents} documents are empty or shorter than {min_chars} characters"
    return {"op": "filter_length", "min_chars": min_chars, "why": why}


def order_steps(steps: Sequence[Step]) -> list[Step]:
    rank = {op: i for i, op in enumerate(OP_ORDER)}
    return sorted(steps, key=lambda step: rank.get(str(step["op"]), len(OP_ORDER)))


def steps_from_profile(facts: ProfileFacts) -> list[Step]:
    """Every finding worth a step: boilerplate, tables of contents, PII, duplicates, near-empty documents."""
    steps = boilerplate_steps(facts.boilerplate, facts.documents)
    if facts.toc:
        steps.append(toc_step(facts))
    if facts.pii:
        steps.append(redact_step(list(facts.pii), facts))
    if facts.exact_duplicates or facts.near_duplicates:
        steps.append(dedup_step(facts, near=facts.near_duplicates > 0))
    if facts.short_documents:
        steps.append(short_step(facts))
    return order_steps(steps)


# ---- steps from a request ---------------------------------------------------------------------

#: Quoted text: "…", '…' (not an apostrophe inside a word), “…”, ‘…’, 「…」, 『…』.
_QUOTED = re.compile(r"\"([^\"]+)\"|(?<!\w)'([^']+)'(?!\w)|“([^”]+)”|‘([^’]+)’|「([^」]+)」|『([^』]+)』")
_REMOVE_VERB = re.compile(r"remove|delete|drop|strip|get rid|빼|지워|지우|삭제|제거|없애", re.IGNORECASE)
_SPLIT = re.compile(r"\bsplit\b|마다\s*(?:나눠|나누|분리|쪼개|자르|잘라)", re.IGNORECASE)
_NEAR = re.compile(r"\bnear\b|similar|비슷|유사", re.IGNORECASE)
_MIN_CHARS = re.compile(r"(\d{1,6})\s*(?:글자|자|characters?|chars?)(?![A-Za-z])", re.IGNORECASE)


@dataclass
class RequestRules:
    """The steps a request's keywords map onto, with notes for what they could not."""

    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    intents: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Intent:
    name: str
    keywords: re.Pattern[str]
    build: Callable[[str, ProfileFacts, RequestRules], None]


def _boilerplate_intent(
    positions: tuple[str, ...], what: str
) -> Callable[[str, ProfileFacts, RequestRules], None]:
    def build(_: str, facts: ProfileFacts, out: RequestRules) -> None:
        found = [b for b in facts.boilerplate if b.position in positions and not b.is_page_number]
        if not found:
            out.notes.append(f"no repeated {what} found in the profile; nothing to drop for it")
        out.steps.extend(boilerplate_steps(found, facts.documents))

    return build


def _page_numbers(_: str, facts: ProfileFacts, out: RequestRules) -> None:
    found = [b for b in facts.boilerplate if b.is_page_number]
    if found:
        out.steps.extend(boilerplate_step(b, facts.documents) for b in found)
        return
    why = "asked to drop page numbers (lines holding only a page number)"
    out.steps.append({"op": "drop_lines", "pattern": PAGE_NUMBER_PATTERN, "ignore_case": True, "why": why})


def _redact(*kinds: str) -> Callable[[str, ProfileFacts, RequestRules], None]:
    def build(_: str, facts: ProfileFacts, out: RequestRules) -> None:
        out.steps.append(redact_step(kinds, facts))

    return build


def _toc(_: str, facts: ProfileFacts, out: RequestRules) -> None:
    out.steps.append(toc_step(facts))


def _dedup(request: str, facts: ProfileFacts, out: RequestRules) -> None:
    out.steps.append(dedup_step(facts, near=bool(_NEAR.search(request))))


def _language(code: str) -> Callable[[str, ProfileFacts, RequestRules], None]:
    def build(_: str, facts: ProfileFacts, out: RequestRules) -> None:
        others = sum(n for lang, n in facts.languages.items() if lang != code)
        why = f"asked to keep only {code} documents ({others} documents in other languages)"
        out.steps.append({"op": "filter_language", "keep": [code], "why": why})

    return build


def _short(request: str, facts: ProfileFacts, out: RequestRules) -> None:
    match = _MIN_CHARS.search(request)
    min_chars = int(match.group(1)) if match else MIN_CHARS
    step = short_step(facts, min_chars)
    step["why"] = f"asked to drop documents shorter than {min_chars} characters"
    out.steps.append(step)


def _dates(_: str, facts: ProfileFacts, out: RequestRules) -> None:
    out.steps.append({"op": "normalize_dates", "why": "asked to write dates as YYYY-MM-DD"})


def _numbers(_: str, facts: ProfileFacts, out: RequestRules) -> None:
    why = "asked to normalise numbers (thousands separators, full-width digits)"
    out.steps.append({"op": "normalize_numbers", "why": why})


def _flags(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


#: Checked in order on the request with quoted text blanked out; each match is blanked before the next
#: intent looks, so "phone numbers" is the phone intent and leaves no "numbers" for normalize_numbers.
INTENTS: tuple[_Intent, ...] = (
    _Intent("header", _flags(r"\bheaders?\b|머리글|헤더|머리말"), _boilerplate_intent(("start",), "header")),
    _Intent(
        "footer",
        _flags(r"\bfooters?\b|\bcopyright\b|바닥글|푸터|꼬리말|저작권"),
        _boilerplate_intent(("end",), "footer"),
    ),
    _Intent(
        "navigation",
        _flags(r"\bnavigation\b|\bnav\b|\bmenus?\b|메뉴|탐색"),
        _boilerplate_intent(("start", "middle"), "navigation or menu line"),
    ),
    _Intent(
        "page numbers", _flags(r"\bpage\s*numbers?\b|\bpage\s*no\.?|(?:쪽|페이지)\s*번호"), _page_numbers
    ),
    _Intent(
        "all personal information",
        _flags(r"\bpii\b|personal\s+(?:information|info|data)|개인\s*정보"),
        _redact(*KINDS),
    ),
    _Intent(
        "phone", _flags(r"\b(?:tele)?phones?(?:\s*numbers?)?\b|전화\s*(?:번호)?|연락처"), _redact("phone")
    ),
    _Intent("email", _flags(r"\be-?mails?(?:\s*address(?:es)?)?\b|이메일|메일"), _redact("email")),
    _Intent(
        "resident registration number",
        _flags(r"주민\s*(?:등록)?\s*번호|resident\s+registration(?:\s*numbers?)?|\brrns?\b"),
        _redact("rrn"),
    ),
    _Intent("card", _flags(r"\b(?:credit\s+)?cards?(?:\s*numbers?)?\b|카드\s*(?:번호)?"), _redact("card")),
    _Intent("table of contents", _flags(r"table\s+of\s+contents|\btoc\b|목차|차례"), _toc),
    _Intent("duplicates", _flags(r"duplicat\w*|\bdedup\w*|중복"), _dedup),
    _Intent("only Korean", _flags(r"only\s+korean|korean\s+only|한국어(?:\s*문서)?만"), _language("ko")),
    _Intent("only English", _flags(r"only\s+english|english\s+only|영어(?:\s*문서)?만"), _language("en")),
    _Intent("short documents", _flags(r"\bshort\w*|짧은|짧"), _short),
    _Intent("dates", _flags(r"\bdates?\b|날짜"), _dates),
    _Intent("numbers", _flags(r"\bnumbers?\b|숫자|천\s*단위"), _numbers),
)

UNDERSTOOD = (
    "headers/머리글, footers/바닥글/저작권, navigation/메뉴, page numbers/쪽 번호, "
    "phone/전화번호, email/이메일, "
    "주민등록번호, card/카드, personal information/개인정보, table of contents/목차, duplicates/중복, "
    "only Korean/한국어만, only English/영어만, short documents/짧은 문서, dates/날짜, numbers/숫자, "
    'split on headings/…마다 나눠, remove "quoted text"/"…" 삭제'
)


def _quoted(request: str) -> list[tuple[int, str]]:
    """(position, text) of each quoted piece."""
    found = []
    for match in _QUOTED.finditer(request):
        text = next(group for group in match.groups() if group is not None)
        if text.strip():
            found.append((match.start(), text))
    return found


def _blank(text: str, pattern: re.Pattern[str]) -> str:
    return pattern.sub(lambda m: " " * len(m.group(0)), text)


def _split_step(request: str, quotes: list[tuple[int, str]], out: RequestRules) -> set[int]:
    """split_documents on the quoted text after the split keyword, else on Markdown headings; the
    quote positions it used (they are not also text to remove)."""
    split = _SPLIT.search(_blank(request, _QUOTED))
    if split is None:
        return set()
    # "split on 'Chapter'": the quote after "split"; "'제' 마다 나눠": the quote before "마다".
    english = split.group(0).lower() == "split"
    candidates = [q for q in quotes if (q[0] > split.start()) == english]
    if candidates:
        position, text = candidates[0] if english else candidates[-1]
        pattern = r"^\s*" + re.escape(text.strip())
        why = f"asked to split documents at lines starting with {text.strip()!r}"
        out.steps.append({"op": "split_documents", "pattern": pattern, "why": why})
        out.intents.append("split")
        return {position}
    why = "asked to split documents at Markdown headings"
    out.steps.append({"op": "split_documents", "pattern": HEADING_PATTERN, "why": why})
    out.intents.append("split")
    return set()


def _removal_steps(request: str, quotes: list[tuple[int, str]], out: RequestRules) -> None:
    if not quotes or not _REMOVE_VERB.search(_blank(request, _QUOTED)):
        return
    for _, text in quotes:
        why = f"asked to remove the lines containing {text!r}"
        out.steps.append({"op": "drop_lines", "pattern": re.escape(text), "why": why})
    out.intents.append("remove quoted text")


#: "leave the phone numbers", "except emails", "전화번호는 그대로": the named thing is to stay.
_KEEP_BEFORE = re.compile(
    r"(?:\bleave|\bkeep|\bexcept|\bbut\s+not|\bnot|\bdon'?t\s+\w+|\bdo\s+not\s+\w+|\bwithout)\W+(?:\w+\W+){0,2}$",
    re.IGNORECASE,
)
_KEEP_AFTER = re.compile(r"^\s*\S{0,3}\s*(?:그대로|남겨|놔두|두고|말고|제외|빼지\s*마|지우지\s*마)")


def _kept_by_request(request: str, match: re.Match[str]) -> bool:
    """Whether the words around an intent's keyword ask to keep that thing rather than change it."""
    # Only the keyword's own clause: "do not touch emails, redact phones" keeps emails, not phones.
    clause = re.split(r"[,.;!?]|\band\b|\bthen\b", request[: match.start()])[-1]
    return bool(_KEEP_BEFORE.search(clause) or _KEEP_AFTER.search(request[match.end() :]))


def steps_for_request(request: str, facts: ProfileFacts) -> RequestRules:
    """The steps the request's keywords ask for; an unknown request gives no steps and a note saying
    which requests the rules understand."""
    out = RequestRules()
    quotes = _quoted(request)
    used = _split_step(request, quotes, out)
    _removal_steps(request, [q for q in quotes if q[0] not in used], out)
    # Keywords inside quotes are the user's text, not intents ("remove lines with 'phone'").
    remaining = _blank(request, _QUOTED)
    if out.intents and "split" in out.intents:
        remaining = _blank(remaining, _SPLIT)
    for intent in INTENTS:
        match = intent.keywords.search(remaining)
        if match:
            remaining = _blank(remaining, intent.keywords)
            # "keep only Korean" / "한국어만 남겨" is the language filter itself, not a request to keep.
            if not intent.name.startswith("only") and _kept_by_request(request, match):
                out.notes.append(f"{intent.name}: the request asks to keep it; left as it is")
                continue
            out.intents.append(intent.name)
            intent.build(request, facts, out)
    if not out.intents:
        out.notes.append(f"the keyword rules did not understand {request!r}; they understand: {UNDERSTOOD}")
    out.steps = order_steps(_merge_redactions(_unique(out.steps), facts))
    return out


def _unique(steps: Sequence[Step]) -> list[Step]:
    """Drop repeated steps ("header and footer" may name the same block twice)."""
    seen: list[Step] = []
    for step in steps:
        if not any(_same(step, other) for other in seen):
            seen.append(step)
    return seen


def _same(a: Step, b: Step) -> bool:
    return {k: v for k, v in a.items() if k != "why"} == {k: v for k, v in b.items() if k != "why"}


def _merge_redactions(steps: Sequence[Step], facts: ProfileFacts) -> list[Step]:
    """One redact_pii step for every kind asked ("phone numbers and emails")."""
    redactions = [s for s in steps if s["op"] == "redact_pii"]
    if len(redactions) < 2:
        return list(steps)
    kinds = {k for s in redactions for k in s["kinds"]}
    merged = redact_step(sorted(kinds), facts)
    first = steps.index(redactions[0])
    rest = [s for s in steps if s["op"] != "redact_pii"]
    return [*rest[:first], merged, *rest[first:]]
