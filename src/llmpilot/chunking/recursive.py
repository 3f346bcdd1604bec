"""LangChain-style recursive splitting with exact offsets.

Split on the first separator of the hierarchy that occurs in the text, recurse into pieces still
over the size with the separators after it, and merge neighbouring small pieces up to the size.
Pieces are spans of the original text (a separator stays at the end of its left piece), so
positions are never lost to string re-joining.
"""

from __future__ import annotations

from collections.abc import Sequence

from llmpilot.chunking.base import Units, make_units, pack, size_of, split_keep, to_chunks
from llmpilot.chunking.tokens import Span
from llmpilot.config import ChunkingConfig
from llmpilot.registry import chunkers
from llmpilot.types import Chunk, Document

#: Paragraphs, lines, sentence ends (Korean "-다." / "-요." endings included), words, characters.
DEFAULT_SEPARATORS: tuple[str, ...] = ("\n\n", "\n", ". ", "? ", "! ", "다. ", "요. ", " ", "")


def split_recursive(
    text: str, start: int, end: int, separators: Sequence[str], units: Units, size: int, overlap: int
) -> list[Span]:
    """Spans of text[start:end], each within `size` units unless a single atom is larger."""
    if size_of(units, start, end) <= size:
        return [(start, end)]
    for i, sep in enumerate(separators):
        if sep and text.find(sep, start, end) >= 0:
            pieces = split_keep(text, start, end, sep)
            return pack_pieces(text, pieces, separators[i + 1 :], units, size, overlap)
        if not sep:
            break
    # No separator left (or "" reached): cut at the finest grain, characters or token atoms.
    return pack(units.atoms(start, end), units, size, overlap)


def pack_pieces(
    text: str, pieces: Sequence[Span], separators: Sequence[str], units: Units, size: int, overlap: int
) -> list[Span]:
    """Merge runs of pieces that fit; split a piece over the size with the remaining separators."""
    out: list[Span] = []
    run: list[Span] = []
    for piece in pieces:
        if size_of(units, *piece) <= size:
            run.append(piece)
            continue
        if run:
            out.extend(pack(run, units, size, overlap))
            run = []
        out.extend(split_recursive(text, piece[0], piece[1], separators, units, size, overlap))
    if run:
        out.extend(pack(run, units, size, overlap))
    return out


class RecursiveChunker:
    def __init__(self, cfg: ChunkingConfig) -> None:
        self.cfg = cfg
        self.separators: tuple[str, ...] = (
            tuple(cfg.separators) if cfg.separators is not None else DEFAULT_SEPARATORS
        )

    def split(self, doc: Document) -> list[Chunk]:
        text = doc.text
        units = make_units(text, self.cfg)
        spans = split_recursive(text, 0, len(text), self.separators, units, self.cfg.size, self.cfg.overlap)
        return to_chunks(doc, spans)


@chunkers.register("recursive")
def _recursive(cfg: ChunkingConfig) -> RecursiveChunker:
    return RecursiveChunker(cfg)
