"""Fixed-size windows with overlap, nudged so that a cut does not split a word."""

from __future__ import annotations

from llmpilot.chunking.base import Units, make_units, to_chunks, trim
from llmpilot.chunking.tokens import Span
from llmpilot.config import ChunkingConfig
from llmpilot.registry import chunkers
from llmpilot.types import Chunk, Document


def _inside_word(text: str, pos: int) -> bool:
    return 0 < pos < len(text) and text[pos - 1].isalnum() and text[pos].isalnum()


class FixedChunker:
    """Windows of `size` units; each next window starts `overlap` units before the previous end.

    A cut inside a word moves back to the last whitespace within the window's final ~10% (Korean
    puts spaces between eojeol, so the rule serves both languages); a window start inside a word
    (or on punctuation) moves forward to the next word when that keeps at least half of the overlap.
    """

    def __init__(self, cfg: ChunkingConfig) -> None:
        self.cfg = cfg

    def split(self, doc: Document) -> list[Chunk]:
        return to_chunks(doc, self.spans(doc.text, make_units(doc.text, self.cfg)))

    def spans(self, text: str, units: Units) -> list[Span]:
        size, overlap = self.cfg.size, self.cfg.overlap
        length = len(text)
        pos, _ = trim(text, 0, length)
        out: list[Span] = []
        prev_end = 0  # a window must reach past the previous one, or it adds nothing
        while pos < length:
            end = units.end_after(pos, size)
            if _inside_word(text, end):
                end = self._back_to_space(text, units, max(pos, prev_end), end)
            prev_end = end
            out.append((pos, end))
            if trim(text, end, length)[0] >= length:  # only whitespace left
                break
            nxt = self._forward_to_word(text, units.start_before(end, overlap), end) if overlap else end
            if nxt <= pos:  # overlap nearly as large as the window: give it up rather than stall
                nxt = end
            pos, _ = trim(text, nxt, length)
        return out

    def _back_to_space(self, text: str, units: Units, start: int, end: int) -> int:
        lo = max(start + 1, units.start_before(end, max(1, self.cfg.size // 10)))
        for p in range(end - 1, lo - 1, -1):
            if text[p].isspace():
                return p
        return end

    @staticmethod
    def _forward_to_word(text: str, start: int, end: int) -> int:
        # Inside a word, or on the punctuation that ended the previous sentence: start at the next word.
        at_punct = start < len(text) and not text[start].isalnum() and not text[start].isspace()
        if not (_inside_word(text, start) or at_punct):
            return start
        limit = start + (end - start) // 2
        for p in range(start, limit):
            if text[p].isspace():
                return p
        return start


@chunkers.register("fixed")
def _fixed(cfg: ChunkingConfig) -> FixedChunker:
    return FixedChunker(cfg)
