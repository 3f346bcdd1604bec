"""What each plan step does to documents (the steps themselves are defined and validated in
`llmpilot.transforms.plan`).

Every op is a pure function of the step and the documents: a document the step does not match is
returned as the very same object, and text outside what a step matches is left byte for byte,
except the tidying the drop ops do where they removed lines (see `_close_gaps`).
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from llmpilot.transforms.dates import normalize_dates
from llmpilot.transforms.dedup import Deduplicator
from llmpilot.transforms.language import detect_language
from llmpilot.transforms.pii import redact
from llmpilot.transforms.plan import (
    Deduplicate,
    DropBlock,
    DropDocuments,
    DropLines,
    DropSection,
    ExtractField,
    FilterLanguage,
    FilterLength,
    KeepSection,
    NormalizeDates,
    NormalizeNumbers,
    RedactPii,
    RegexReplace,
    SplitDocuments,
    StepModel,
    TransformPlan,
)
from llmpilot.types import Document

#: Metadata key a split part gets: the id of the document it came from.
SPLIT_FROM = "split_from"
#: What detect_language says when it cannot tell; such documents pass filter_language.
_UNDETECTED = {None, "und"}

# "1,234,567" with well-formed groups of three, not part of a longer digit run or a decimal
# ("0.123,456"), and not followed by another group of any size ("1,234,56" is not a number).
_THOUSANDS = re.compile(r"(?<![0-9])(?<![0-9][.,])[0-9]{1,3}(?:,[0-9]{3})+(?![0-9])(?!,[0-9])")
_FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")


@dataclass(frozen=True)
class StepStats:
    """What one step did. Character counts are net per document: a document that got shorter
    adds to chars_removed, one that got longer to chars_added, a dropped one removes all its
    text; a split counts its parts' text (and the newlines between them) against the original's."""

    op: str
    index: int  # 1-based, as in plan error messages
    documents_changed: int = 0
    documents_dropped: int = 0
    documents_added: int = 0
    chars_removed: int = 0
    chars_added: int = 0


@functools.lru_cache(maxsize=512)
def _regex(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE if ignore_case else 0)


def _selected(step: StepModel, doc: Document) -> bool:
    return step.sources is None or fnmatch.fnmatchcase(doc.source, step.sources)


def _with_text(doc: Document, text: str) -> Document:
    return doc if text == doc.text else replace(doc, text=text)


# ---- line removal ----------------------------------------------------------------------------------


def _split_body(text: str) -> tuple[list[str], bool]:
    """Lines of the text, and whether it ended with a newline (which is not a line of its own)."""
    if text.endswith("\n"):
        return text[:-1].split("\n"), True
    return text.split("\n"), False


def _is_blank(line: str) -> bool:
    return not line.strip()


def _close_gaps(marked: Sequence[str | None]) -> list[str]:
    """Lines left after a removal (None = a removed line), tidied where lines were removed only:
    blank lines that end up at the start or end of the text next to a removal are dropped, and
    blank lines from both sides of a removal merge into one, so dropping a footer or a
    paragraph does not leave stray blank lines. Blank runs away from removals are kept."""
    out: list[str] = []
    pending: list[str | None] = []  # blank lines and gaps since the last non-blank line
    for line in marked:
        if line is None or _is_blank(line):
            pending.append(line)
            continue
        out.extend(_tidy_blank_run(pending, at_edge=not out))
        pending = []
        out.append(line)
    out.extend(_tidy_blank_run(pending, at_edge=True))
    return out


def _tidy_blank_run(run: list[str | None], *, at_edge: bool) -> list[str]:
    blanks = [line for line in run if line is not None]
    if None not in run:
        return blanks
    if at_edge:
        return []
    first_gap = run.index(None)
    last_gap = len(run) - 1 - run[::-1].index(None)
    merged = any(line is not None for line in run[:last_gap]) and any(
        line is not None for line in run[first_gap + 1 :]
    )
    return blanks[:1] if merged else blanks


def _drop_marked(doc: Document, lines: list[str], trailing_newline: bool, removed: Iterable[int]) -> Document:
    drop = set(removed)
    if not drop:
        return doc
    kept = _close_gaps([None if i in drop else line for i, line in enumerate(lines)])
    text = "\n".join(kept)
    if trailing_newline and text:
        text += "\n"
    return _with_text(doc, text)


def _drop_lines(step: DropLines, doc: Document) -> list[Document]:
    regex = _regex(step.pattern, step.ignore_case)
    lines, trailing = _split_body(doc.text)
    return [_drop_marked(doc, lines, trailing, (i for i, line in enumerate(lines) if regex.search(line)))]


def _block_lines(text: str) -> list[str]:
    return text.strip("\n").split("\n")


def _drop_block(step: DropBlock, doc: Document) -> list[Document]:
    block = _block_lines(step.text)
    if step.text.strip("\n") not in doc.text:
        return [doc]  # cheap exit for the common case
    lines, trailing = _split_body(doc.text)
    removed: list[int] = []
    i = 0
    while i + len(block) <= len(lines):
        if lines[i : i + len(block)] == block:
            removed.extend(range(i, i + len(block)))
            i += len(block)  # occurrences do not overlap: the first one wins
        else:
            i += 1
    return [_drop_marked(doc, lines, trailing, removed)]


def _first_match(regex: re.Pattern[str], lines: Sequence[str], start: int = 0) -> int | None:
    return next((i for i in range(start, len(lines)) if regex.search(lines[i])), None)


def _first_blank(lines: Sequence[str], start: int) -> int | None:
    return next((i for i in range(start, len(lines)) if _is_blank(lines[i])), None)


def _drop_section(step: DropSection, doc: Document) -> list[Document]:
    lines, trailing = _split_body(doc.text)
    begin = _first_match(_regex(step.start, step.ignore_case), lines)
    if begin is None:
        return [doc]
    if step.end is None:
        end = _first_blank(lines, begin + 1)
        end = len(lines) if end is None else end
    else:
        found = _first_match(_regex(step.end, step.ignore_case), lines, begin + 1)
        if found is None:
            return [doc]  # an unterminated section is more likely a wrong `end` than the whole rest
        end = found
    return [_drop_marked(doc, lines, trailing, range(begin, end))]


def _keep_section(step: KeepSection, doc: Document) -> list[Document]:
    lines, trailing = _split_body(doc.text)
    begin = _first_match(_regex(step.start, step.ignore_case), lines)
    if begin is None:
        return [doc] if step.if_missing == "keep" else []
    found = None if step.end is None else _first_match(_regex(step.end, step.ignore_case), lines, begin + 1)
    end = len(lines) if found is None else found
    outside = [*range(begin), *range(end, len(lines))]
    return [_drop_marked(doc, lines, trailing, outside)]


# ---- text rewrites ---------------------------------------------------------------------------------


def _regex_replace(step: RegexReplace, doc: Document) -> list[Document]:
    return [_with_text(doc, _regex(step.pattern, step.ignore_case).sub(step.replacement, doc.text))]


def _redact_pii(step: RedactPii, doc: Document) -> list[Document]:
    text, _ = redact(doc.text, step.kinds, step.replacement)
    title, _ = redact(doc.title, step.kinds, step.replacement)  # titles leak PII just as well
    if text == doc.text and title == doc.title:
        return [doc]
    return [replace(doc, text=text, title=title)]


def _normalize_dates(step: NormalizeDates, doc: Document) -> list[Document]:
    text, _ = normalize_dates(doc.text, step.day_first)
    return [_with_text(doc, text)]


def normalize_numbers(text: str, *, thousands: bool = True, fullwidth: bool = True) -> str:
    """Full-width digits to ASCII, then "1,234,567" to "1234567" (see _THOUSANDS)."""
    if fullwidth:
        text = text.translate(_FULLWIDTH_DIGITS)
    if thousands and "," in text:
        text = _THOUSANDS.sub(lambda m: m.group(0).replace(",", ""), text)
    return text


def _normalize_numbers(step: NormalizeNumbers, doc: Document) -> list[Document]:
    return [_with_text(doc, normalize_numbers(doc.text, thousands=step.thousands, fullwidth=step.fullwidth))]


def _extract_field(step: ExtractField, doc: Document) -> list[Document]:
    match = _regex(step.pattern).search(doc.text)
    if match is None:
        return [doc]
    value = (match.group(1) or "").strip()
    text = doc.text[: match.start()] + doc.text[match.end() :] if step.remove else doc.text
    if value == doc.metadata.get(step.field) and text == doc.text:
        return [doc]
    return [replace(doc, text=text, metadata={**doc.metadata, step.field: value})]


def _without_blank_tail(lines: Sequence[str], floor: int, end: int) -> int:
    """`end` moved back over blank lines, not below `floor`."""
    while end > floor and not lines[end - 1].strip():
        end -= 1
    return end


def _split_documents(step: SplitDocuments, doc: Document) -> list[Document]:
    regex = _regex(step.pattern)
    lines, trailing = _split_body(doc.text)
    starts = [i for i, line in enumerate(lines) if regex.search(line)]
    if not starts:
        return [doc]
    metadata = {**doc.metadata, SPLIT_FROM: doc.id}
    parts: list[Document] = []
    prefix = "\n".join(lines[: _without_blank_tail(lines, 0, starts[0])])
    if prefix.strip():
        parts.append(replace(doc, id=f"{doc.id}#0", text=prefix, metadata=dict(metadata)))
    for n, (begin, end) in enumerate(zip(starts, [*starts[1:], len(lines)], strict=True), start=1):
        # The blank lines that separated this part from the next belong to neither document.
        last = _without_blank_tail(lines, begin + 1, end)
        text = "\n".join(lines[begin:last]) + ("\n" if trailing and last == len(lines) else "")
        heading = lines[begin].strip()
        title = heading if step.title_from_match and heading else doc.title
        parts.append(replace(doc, id=f"{doc.id}#{n}", text=text, title=title, metadata=dict(metadata)))
    return parts


# ---- document filters ------------------------------------------------------------------------------


def _filter_language(step: FilterLanguage, doc: Document) -> list[Document]:
    language = detect_language(doc.text)
    return [doc] if language in _UNDETECTED or language in step.keep else []


def _filter_length(step: FilterLength, doc: Document) -> list[Document]:
    n = len(doc.text.strip())
    too_short = step.min_chars is not None and n < step.min_chars
    too_long = step.max_chars is not None and n > step.max_chars
    return [] if too_short or too_long else [doc]


def _drop_documents(step: DropDocuments, doc: Document) -> list[Document]:
    regex = _regex(step.pattern, step.ignore_case)
    return [] if regex.search(doc.text) or regex.search(doc.title) else [doc]


def _deduplicate(step: Deduplicate, docs: Sequence[Document]) -> list[Document]:
    """Keeps the first of each group of duplicates among the selected documents, in order."""
    seen = Deduplicator(exact=True, near=step.near, threshold=step.threshold)
    out: list[Document] = []
    for position, doc in enumerate(docs):
        if not _selected(step, doc):
            out.append(doc)
        elif seen.find_duplicate(doc.text) is None:
            seen.add(str(position), doc.text)  # positions, not ids: ids need not be unique here
            out.append(doc)
    return out


# ---- applying --------------------------------------------------------------------------------------


def _apply_to_document(step: StepModel, doc: Document) -> list[Document]:
    match step:
        case DropLines():
            return _drop_lines(step, doc)
        case DropBlock():
            return _drop_block(step, doc)
        case DropSection():
            return _drop_section(step, doc)
        case KeepSection():
            return _keep_section(step, doc)
        case RegexReplace():
            return _regex_replace(step, doc)
        case SplitDocuments():
            return _split_documents(step, doc)
        case ExtractField():
            return _extract_field(step, doc)
        case RedactPii():
            return _redact_pii(step, doc)
        case FilterLanguage():
            return _filter_language(step, doc)
        case FilterLength():
            return _filter_length(step, doc)
        case DropDocuments():
            return _drop_documents(step, doc)
        case NormalizeDates():
            return _normalize_dates(step, doc)
        case NormalizeNumbers():
            return _normalize_numbers(step, doc)
        case Deduplicate():
            raise TypeError("deduplicate works across documents; use apply_step")
    raise TypeError(f"not a plan step: {step!r}")


def apply_step(step: StepModel, docs: Sequence[Document]) -> list[Document]:
    """Apply one step; order is kept (split parts take the original's place) and documents the
    step's `sources` glob does not select pass through untouched."""
    return _apply_with_stats(step, docs, index=0)[0]


def _apply_with_stats(
    step: StepModel, docs: Sequence[Document], *, index: int
) -> tuple[list[Document], StepStats]:
    if isinstance(step, Deduplicate):
        kept = _deduplicate(step, docs)
        kept_ids = {id(doc) for doc in kept}
        duplicates = [doc for doc in docs if id(doc) not in kept_ids]
        chars = sum(len(doc.text) for doc in duplicates)
        return kept, StepStats(step.op, index, documents_dropped=len(duplicates), chars_removed=chars)
    out: list[Document] = []
    changed = dropped = added = removed = gained = 0
    for doc in docs:
        results = _apply_to_document(step, doc) if _selected(step, doc) else [doc]
        out.extend(results)
        if not results:
            dropped += 1
            removed += len(doc.text)
            continue
        if len(results) == 1 and results[0] is doc:
            continue
        changed += 1
        added += len(results) - 1
        # Split parts are counted with the newlines that joined them, so a split is net zero.
        delta = sum(len(result.text) for result in results) + len(results) - 1 - len(doc.text)
        removed += max(0, -delta)
        gained += max(0, delta)
    return out, StepStats(step.op, index, changed, dropped, added, removed, gained)


def apply_steps(
    steps: TransformPlan | Sequence[StepModel], docs: Sequence[Document]
) -> tuple[list[Document], list[StepStats]]:
    """Apply the steps in order; returns the documents and one StepStats per step."""
    sequence = steps.steps if isinstance(steps, TransformPlan) else steps
    current = list(docs)
    stats: list[StepStats] = []
    for index, step in enumerate(sequence, start=1):
        current, step_stats = _apply_with_stats(step, current, index=index)
        stats.append(step_stats)
    return current, stats
