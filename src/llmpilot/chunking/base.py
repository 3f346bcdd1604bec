"""What the chunkers share: measuring spans in chars or tokens, packing pieces, building Chunks.

Chunkers work on (start, end) character spans of the document and never re-join strings, so every
chunk is exactly `doc.text[start:end]`. Sizes are measured by a `Units` object built once per
document: characters, or tokens grouped into "atoms" (tokens that share characters, such as the jamo
pieces WordPiece makes of one Hangul syllable, form one atom; a cut never falls inside an atom).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Iterable, Sequence
from itertools import accumulate, pairwise
from typing import Protocol

from llmpilot.chunking.tokens import Span, get_token_counter
from llmpilot.config import ChunkingConfig
from llmpilot.types import Chunk, Document


class Units(Protocol):
    """Measures spans of one text in the configured unit."""

    text: str

    def count(self, start: int, end: int) -> int:
        """Units in text[start:end] (a token that straddles an edge counts: the limit is conservative)."""
        ...

    def end_after(self, start: int, n: int) -> int:
        """The furthest end such that count(start, end) <= n (at least one atom, to make progress)."""
        ...

    def start_before(self, end: int, n: int) -> int:
        """The earliest start such that count(start, end) <= n."""
        ...

    def atoms(self, start: int, end: int) -> list[Span]:
        """Contiguous spans covering [start, end), each at most one atom: the finest possible cut."""
        ...


class CharUnits:
    def __init__(self, text: str) -> None:
        self.text = text
        self.length = len(text)

    def count(self, start: int, end: int) -> int:
        return max(0, end - start)

    def end_after(self, start: int, n: int) -> int:
        return min(self.length, start + max(1, n))

    def start_before(self, end: int, n: int) -> int:
        return max(0, end - n)

    def atoms(self, start: int, end: int) -> list[Span]:
        return [(i, i + 1) for i in range(start, end)]


class TokenUnits:
    """Tokens of the whole document, tokenized once; counting a span is two binary searches."""

    def __init__(self, text: str, spans: Iterable[Span]) -> None:
        self.text = text
        self.length = len(text)
        starts: list[int] = []
        ends: list[int] = []
        weights: list[int] = []
        for s, e in sorted(spans):
            if e <= s:
                continue
            if ends and s < ends[-1]:  # shares characters with the previous token: same atom
                ends[-1] = max(ends[-1], e)
                weights[-1] += 1
            else:
                starts.append(s)
                ends.append(e)
                weights.append(1)
        self.starts = starts
        self.ends = ends
        #: cum[i] = tokens in atoms before atom i.
        self.cum = [0, *accumulate(weights)]

    def _first_ending_after(self, offset: int) -> int:
        return bisect_right(self.ends, offset)

    def count(self, start: int, end: int) -> int:
        i = self._first_ending_after(start)
        j = bisect_left(self.starts, end)
        return self.cum[j] - self.cum[i] if j > i else 0

    def end_after(self, start: int, n: int) -> int:
        i = self._first_ending_after(start)
        if i >= len(self.starts):
            return self.length
        j = bisect_right(self.cum, self.cum[i] + n) - 1  # atoms i..j-1 fit
        j = max(j, i + 1)
        if j >= len(self.starts):
            return self.length
        return self.ends[j - 1]

    def start_before(self, end: int, n: int) -> int:
        j = bisect_left(self.starts, end)
        i = bisect_left(self.cum, self.cum[j] - n)
        return self.starts[i] if i < j else end

    def atoms(self, start: int, end: int) -> list[Span]:
        i = self._first_ending_after(start)
        j = bisect_left(self.starts, end)
        cuts = [start, *(e for e in self.ends[i:j] if start < e < end), end]
        return [(a, b) for a, b in pairwise(cuts) if b > a]


def make_units(text: str, cfg: ChunkingConfig) -> Units:
    if cfg.unit == "chars":
        return CharUnits(text)
    return TokenUnits(text, get_token_counter(cfg.tokenizer).spans(text))


def trim(text: str, start: int, end: int) -> Span:
    """Move the edges of a span inward past whitespace (an all-space span becomes empty)."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def size_of(units: Units, start: int, end: int) -> int:
    """Units of a span as its chunk will be: edge whitespace is trimmed away, so it does not count."""
    return units.count(*trim(units.text, start, end))


def pack(pieces: Sequence[Span], units: Units, size: int, overlap: int) -> list[Span]:
    """Merge contiguous pieces (each within `size`) into spans of at most `size` units.

    A new span starts with the whole trailing pieces of the previous one that fit in `overlap`
    (as LangChain's merge does), so overlap never cuts a sentence or word in half.
    """
    out: list[Span] = []
    cur: deque[Span] = deque()
    for piece in pieces:
        if cur and size_of(units, cur[0][0], piece[1]) > size:
            out.append((cur[0][0], cur[-1][1]))
            while cur and (
                size_of(units, cur[0][0], cur[-1][1]) > overlap or size_of(units, cur[0][0], piece[1]) > size
            ):
                cur.popleft()
        cur.append(piece)
    if cur:
        out.append((cur[0][0], cur[-1][1]))
    return out


def split_keep(text: str, start: int, end: int, sep: str) -> list[Span]:
    """Contiguous pieces of text[start:end] cut after each occurrence of `sep` (kept with the left piece)."""
    pieces: list[Span] = []
    pos = start
    while True:
        hit = text.find(sep, pos, end)
        if hit < 0:
            break
        cut = hit + len(sep)
        pieces.append((pos, cut))
        pos = cut
    if pos < end:
        pieces.append((pos, end))
    return pieces


def to_chunks(doc: Document, spans: Iterable[Span]) -> list[Chunk]:
    """Chunks from spans (in order of start): trimmed; empty spans and spans inside the previous dropped."""
    chunks: list[Chunk] = []
    last_end = -1
    for raw_start, raw_end in spans:
        start, end = trim(doc.text, raw_start, raw_end)
        if start >= end or end <= last_end:
            continue
        last_end = end
        index = len(chunks)
        chunks.append(
            Chunk(
                id=f"{doc.id}#{index}",
                doc_id=doc.id,
                text=doc.text[start:end],
                start=start,
                end=end,
                index=index,
            )
        )
    return chunks
