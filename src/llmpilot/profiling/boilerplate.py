"""Boilerplate detection: lines and multi-line blocks that repeat across many documents.

A line counts when its stripped text occurs in at least `min_documents(n)` documents (distinct
documents, so a line repeated inside one document counts once). Lines whose digits vary across
documents ("Page 3 of 10", "- 12 -") are grouped by their digit-masked form and reported once
with a regex. Runs of two or more consecutive boilerplate lines that occur identically in enough
documents are reported as blocks, with their text exactly as written, so that a plan's
`drop_block` step with that text removes them.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Position = Literal["start", "end", "middle"]

#: A line must occur in at least this share of the documents (and MIN_DOCUMENTS of them).
MIN_SHARE = 0.2
MIN_DOCUMENTS = 3
MIN_LINE_CHARS = 3
#: Digit-varying lines longer than this are content ("Order 1234 was shipped …"), not markers
#: such as "Page 3 of 10".
MAX_MARKER_CHARS = 40
#: "start"/"end": among the first/last this many non-blank lines of a document.
EDGE_LINES = 3
MAX_ENTRIES = 20
MAX_EXAMPLES = 3

_DIGITS = re.compile(r"[0-9]+")
_LETTER = re.compile(r"[^\W\d_]")
_DIGIT_MARK = "\x00"  # cannot occur in a stripped line of text that matters here
_REGEX_SPECIAL = frozenset(".^$*+?{}[]\\|()")


@dataclass(frozen=True)
class BoilerplateEntry:
    """One repeated line (possibly a digit-varying pattern) or block, as shown in the profile."""

    text: str
    count: int
    kind: Literal["line", "block"]
    position: Position
    lines: int
    examples: list[str] = field(default_factory=list)
    #: For digit-varying lines: a regex matching every variant (for a `drop_lines` step).
    pattern: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "text": self.text,
            "count": self.count,
            "kind": self.kind,
            "position": self.position,
            "lines": self.lines,
            "examples": list(self.examples),
        }
        if self.pattern is not None:
            out["pattern"] = self.pattern
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BoilerplateEntry:
        return cls(
            text=str(data["text"]),
            count=int(data["count"]),
            kind=data["kind"],
            position=data["position"],
            lines=int(data["lines"]),
            examples=[str(x) for x in data.get("examples", [])],
            pattern=data.get("pattern"),
        )


def min_documents(n_documents: int) -> int:
    """How many documents a line or block must occur in to count as boilerplate."""
    return max(MIN_DOCUMENTS, math.ceil(MIN_SHARE * n_documents - 1e-9))


@dataclass
class _Doc:
    doc_id: str
    raw: list[str]
    keys: list[str]
    #: Index of each line among the non-blank lines (-1 for a blank line).
    rank: list[int]
    nonblank: int

    def position(self, index: int, length: int = 1) -> Position:
        """Where the lines raw[index:index+length] sit in the document: the nearer edge when
        within EDGE_LINES non-blank lines of it (short documents are near both)."""
        from_start = self.rank[index]
        from_end = self.nonblank - 1 - self.rank[index + length - 1]
        if min(from_start, from_end) >= EDGE_LINES:
            return "middle"
        return "start" if from_start <= from_end else "end"


def _split(doc_id: str, text: str) -> _Doc:
    raw = text.split("\n")
    keys = [line.strip() for line in raw]
    rank: list[int] = []
    seen = 0
    for key in keys:
        rank.append(seen if key else -1)
        seen += bool(key)
    return _Doc(doc_id, raw, keys, rank, seen)


def _is_line_candidate(key: str) -> bool:
    return len(key) >= MIN_LINE_CHARS and _LETTER.search(key) is not None


def _digit_mask(key: str) -> str | None:
    """The line with its digit runs masked, when it could be a numbered marker ("Page 3 of 10",
    "- 12 -"); None for lines without digits, for bare values ("12", "3.5", "1,234"), which
    repeat in tables without being boilerplate, and for long lines."""
    if not MIN_LINE_CHARS <= len(key) <= MAX_MARKER_CHARS:
        return None
    mask, digit_runs = _DIGITS.subn(_DIGIT_MARK, key)
    if not digit_runs:
        return None
    rest = mask.replace(_DIGIT_MARK, "")
    if _LETTER.search(rest):
        return mask
    if "." in rest or "," in rest or not rest.strip():
        return None
    return mask


def mask_pattern(mask: str, *, padded: bool) -> str:
    """A regex matching every line with this digit-masked form (`padded`: lines may carry
    surrounding whitespace, as `drop_lines` matches the unstripped line)."""
    parts: list[str] = []
    for token in re.split(f"({_DIGIT_MARK}|\\s+)", mask):
        if token == _DIGIT_MARK:
            parts.append(r"\d+")
        elif token.isspace():
            parts.append(" " if token == " " else r"\s+")
        else:
            parts.append("".join(f"\\{ch}" if ch in _REGEX_SPECIAL else ch for ch in token))
    edge = r"\s*" if padded else ""
    return f"^{edge}{''.join(parts)}{edge}$"


def _majority(votes: Counter[Position]) -> Position:
    total = sum(votes.values())
    for where in ("start", "end"):
        if votes[where] * 2 > total:
            return where
    return "middle"


@dataclass
class _Tally:
    """Documents in which one line, pattern or block occurs, with where it sits in each."""

    count: int = 0
    examples: list[str] = field(default_factory=list)
    votes: Counter[Position] = field(default_factory=Counter)

    def add(self, doc_id: str, where: Position) -> None:
        self.count += 1
        self.votes[where] += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(doc_id)


def find_boilerplate(documents: Iterable[tuple[str, str]]) -> list[BoilerplateEntry]:
    """Boilerplate of (id, text) pairs: up to MAX_ENTRIES entries, most frequent first."""
    docs = [_split(doc_id, text) for doc_id, text in documents]
    threshold = min_documents(len(docs))
    line_counts, mask_counts = _document_frequencies(docs)
    patterns = _varying_patterns(docs, mask_counts, threshold)
    pattern_members = {key for group in patterns.values() for key in group.keys}
    line_keys = {key for key, n in line_counts.items() if n >= threshold and key not in pattern_members}
    blocks = _select_blocks(_block_counts(docs, line_keys), threshold)
    entries = _block_and_line_entries(docs, blocks, line_keys, threshold)
    entries += [group.entry() for group in patterns.values()]
    entries.sort(key=lambda e: (-e.count, e.text))
    return entries[:MAX_ENTRIES]


def _document_frequencies(docs: Sequence[_Doc]) -> tuple[Counter[str], Counter[str]]:
    lines: Counter[str] = Counter()
    masks: Counter[str] = Counter()
    for doc in docs:
        keys = set(doc.keys)
        lines.update(key for key in keys if _is_line_candidate(key))
        masks.update({mask for key in keys if (mask := _digit_mask(key)) is not None})
    return lines, masks


@dataclass
class _PatternGroup:
    mask: str
    keys: Counter[str] = field(default_factory=Counter)
    tally: _Tally = field(default_factory=_Tally)
    padded: bool = False

    def entry(self) -> BoilerplateEntry:
        # The most common variant stands for the group; the pattern matches them all.
        text = min(self.keys, key=lambda k: (-self.keys[k], k))
        return BoilerplateEntry(
            text=text,
            count=self.tally.count,
            kind="line",
            position=_majority(self.tally.votes),
            lines=1,
            examples=list(self.tally.examples),
            pattern=mask_pattern(self.mask, padded=self.padded),
        )


def _varying_patterns(
    docs: Sequence[_Doc], mask_counts: Counter[str], threshold: int
) -> dict[str, _PatternGroup]:
    """Frequent digit-masked forms whose digits differ between documents (page numbers)."""
    groups = {mask: _PatternGroup(mask) for mask, n in mask_counts.items() if n >= threshold}
    if not groups:
        return {}
    for doc in docs:
        found: set[str] = set()
        for index, key in enumerate(doc.keys):
            mask = _digit_mask(key)
            group = groups.get(mask) if mask is not None else None
            if group is None or mask is None:
                continue
            group.padded = group.padded or doc.raw[index] != key
            if key not in found:
                group.keys[key] += 1
            if mask not in found:
                group.tally.add(doc.doc_id, doc.position(index))
            found.update((key, mask))
    return {mask: group for mask, group in sorted(groups.items()) if len(group.keys) > 1}


def _runs(doc: _Doc, line_keys: set[str]) -> list[tuple[int, int]]:
    """[start, end) index ranges of maximal runs of >= 2 consecutive boilerplate lines."""
    runs: list[tuple[int, int]] = []
    start = -1
    for index, key in enumerate([*doc.keys, ""]):
        if key in line_keys:
            if start < 0:
                start = index
        elif start >= 0:
            if index - start >= 2:
                runs.append((start, index))
            start = -1
    return runs


def _block_counts(docs: Sequence[_Doc], line_keys: set[str]) -> Counter[tuple[str, ...]]:
    """Documents containing each candidate block: every maximal run of boilerplate lines, and its
    pieces where the run's documents change (see `_segments`)."""
    runs = [[tuple(doc.raw[start:end]) for start, end in _runs(doc, line_keys)] for doc in docs]
    pairs: Counter[tuple[str, str]] = Counter()
    for doc_runs in runs:
        pairs.update({pair for run in doc_runs for pair in itertools.pairwise(run)})
    counts: Counter[tuple[str, ...]] = Counter()
    for doc_runs in runs:
        found: set[tuple[str, ...]] = set(doc_runs)
        for run in doc_runs:
            found.update(_segments(run, pairs))
        counts.update(found)
    return counts


def _segments(run: tuple[str, ...], pairs: Counter[tuple[str, str]]) -> list[tuple[str, ...]]:
    """Pieces of a run in which every two adjacent lines follow each other in the same number of
    documents. A block shared by many documents keeps one count inside; where a variant adds or
    lacks lines (a longer footer in some documents, an extra menu item) the count changes, so
    the shared part comes out whole whatever the variants around it."""
    counts = [pairs[pair] for pair in itertools.pairwise(run)]
    pieces: list[tuple[str, ...]] = []
    first = 0
    for k in range(1, len(counts) + 1):
        if k == len(counts) or counts[k] != counts[first]:
            pieces.append(run[first : k + 1])
            first = k
    return pieces


def _select_blocks(counts: Counter[tuple[str, ...]], threshold: int) -> list[tuple[str, ...]]:
    """Frequent candidates, those covering the most lines (documents x lines) first, skipping any
    that shares a line with one already chosen: so a footer is reported whole, not also as its
    pieces (nor as a shorter prefix that a few variants share), and two chosen blocks never
    overlap (each can be dropped whatever the order)."""
    frequent = [block for block, n in counts.items() if n >= threshold]
    frequent.sort(key=lambda b: (-counts[b] * len(b), -counts[b], "\n".join(b)))
    chosen: list[tuple[str, ...]] = []
    used: set[str] = set()
    for block in frequent:
        if used.isdisjoint(block):
            chosen.append(block)
            used.update(block)
    return chosen


def _block_and_line_entries(
    docs: Sequence[_Doc], blocks: Sequence[tuple[str, ...]], line_keys: set[str], threshold: int
) -> list[BoilerplateEntry]:
    """Entries for the chosen blocks, and for boilerplate lines counted where they occur outside
    those blocks (a footer's lines are not repeated unless they also stand alone often enough)."""
    block_tallies = {block: _Tally() for block in blocks}
    line_tallies = {key: _Tally() for key in sorted(line_keys)}
    by_first_line: dict[str, list[tuple[str, ...]]] = {}
    for block in blocks:
        by_first_line.setdefault(block[0], []).append(block)
    for doc in docs:
        covered = _cover_blocks(doc, by_first_line, block_tallies)
        seen: set[str] = set()
        for index, key in enumerate(doc.keys):
            if key in line_keys and key not in seen and index not in covered:
                seen.add(key)
                line_tallies[key].add(doc.doc_id, doc.position(index))
    entries = [
        BoilerplateEntry(
            text="\n".join(block),
            count=tally.count,
            kind="block",
            position=_majority(tally.votes),
            lines=len(block),
            examples=list(tally.examples),
        )
        for block, tally in block_tallies.items()
        if tally.count
    ]
    entries += [
        BoilerplateEntry(
            text=key,
            count=tally.count,
            kind="line",
            position=_majority(tally.votes),
            lines=1,
            examples=list(tally.examples),
        )
        for key, tally in line_tallies.items()
        if tally.count >= threshold
    ]
    return entries


def _cover_blocks(
    doc: _Doc, by_first_line: dict[str, list[tuple[str, ...]]], tallies: dict[tuple[str, ...], _Tally]
) -> set[int]:
    """Line indexes of `doc` inside an occurrence of a chosen block; tallies each block once."""
    covered: set[int] = set()
    counted: set[tuple[str, ...]] = set()
    if not by_first_line:
        return covered
    for index, line in enumerate(doc.raw):
        for block in by_first_line.get(line, ()):
            if tuple(doc.raw[index : index + len(block)]) != block:
                continue
            covered.update(range(index, index + len(block)))
            if block not in counted:
                counted.add(block)
                tallies[block].add(doc.doc_id, doc.position(index, len(block)))
    return covered
