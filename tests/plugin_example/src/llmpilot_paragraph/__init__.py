"""An llmpilot plugin: the chunker "paragraph", registered when llmpilot loads this module through
the `llmpilot.components` entry point group (see this package's pyproject.toml)."""

from __future__ import annotations

import re

from llmpilot import factory, registry
from llmpilot.chunking.tokens import count_tokens
from llmpilot.config import ChunkingConfig
from llmpilot.protocols import Chunker
from llmpilot.types import Chunk, Document

#: A line break, optional spaces or tabs, another line break: the end of a paragraph.
_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each paragraph, without its surrounding whitespace; blank ones dropped."""
    spans: list[tuple[int, int]] = []
    cuts = [0, *(p for m in _BLANK_LINE.finditer(text) for p in (m.start(), m.end())), len(text)]
    for start, end in zip(cuts[::2], cuts[1::2], strict=True):
        piece = text[start:end]
        stripped = piece.strip()
        if stripped:
            lead = len(piece) - len(piece.lstrip())
            spans.append((start + lead, start + lead + len(stripped)))
    return spans


class ParagraphChunker:
    """One chunk per paragraph; a paragraph over `size` units is cut into the built-in fixed windows.

    Unlike the built-in recursive chunker, small paragraphs are never packed together.
    """

    def __init__(self, cfg: ChunkingConfig) -> None:
        self.cfg = cfg
        # Oversized paragraphs: reuse the built-in fixed chunker, built through the same factory.
        self._windows: Chunker = factory.chunker(cfg.model_copy(update={"method": "fixed"}))

    def _measure(self, text: str) -> int:
        return len(text) if self.cfg.unit == "chars" else count_tokens(text, self.cfg.tokenizer)

    def split(self, doc: Document) -> list[Chunk]:
        spans: list[tuple[int, int]] = []
        for start, end in paragraph_spans(doc.text):
            if self._measure(doc.text[start:end]) <= self.cfg.size:
                spans.append((start, end))
                continue
            part = Document(id=doc.id, text=doc.text[start:end], language=doc.language)
            spans.extend((start + c.start, start + c.end) for c in self._windows.split(part))
        return [
            Chunk(id=f"{doc.id}#{i}", doc_id=doc.id, text=doc.text[s:e], start=s, end=e, index=i)
            for i, (s, e) in enumerate(spans)
        ]


@registry.chunkers.register("paragraph")
def create_paragraph_chunker(cfg: ChunkingConfig) -> ParagraphChunker:
    return ParagraphChunker(cfg)
