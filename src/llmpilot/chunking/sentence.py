"""Sentence packing: split into sentences (Kiwi for Korean, a regex for the rest), then fill chunks.

Chunks hold whole sentences up to the size, and overlap by whole trailing sentences; a sentence
longer than the size is cut at lines, then words, then characters.
"""

from __future__ import annotations

import re

from llmpilot.chunking.base import make_units, to_chunks
from llmpilot.chunking.recursive import pack_pieces
from llmpilot.chunking.tokens import Span
from llmpilot.config import ChunkingConfig
from llmpilot.index.tokenizers import get_kiwi, is_korean
from llmpilot.registry import chunkers
from llmpilot.types import Chunk, Document

#: Separators for a single sentence over the size.
_OVERSIZE_SEPARATORS = ("\n", " ", "")

#: Words that end with a period without ending a sentence (compared lowercased, final "." removed).
# fmt: off
ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "gen", "col", "lt", "sgt", "capt", "rev", "hon",
    "vs", "etc", "e.g", "i.e", "cf", "viz", "al", "approx", "ca", "inc", "ltd", "co", "corp", "dept", "univ",
    "est", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    "ph.d", "m.d", "b.a", "m.a", "b.sc", "a.m", "p.m", "u.s", "u.k", "u.n", "e.u",
})
# fmt: on
#: Abbreviations only when a number follows ("No. 5", "Fig. 2"): "I said no. Then" ends a sentence.
NUMBERED_ABBREVIATIONS = frozenset(
    ["no", "nos", "p", "pp", "vol", "vols", "ch", "sec", "fig", "figs", "eq", "eqs", "ref", "refs", "art"]
)
#: Sentence-final punctuation, optional closing quotes/brackets, then whitespace.
_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)")
_PARAGRAPH = re.compile(r"\n[^\S\n]*\n\s*")
_DOTTED = re.compile(r"(?:[a-z]\.)+[a-z]")  # initialisms such as u.s.a (before the final period)
_OPENERS = "\"'“‘([{"


def _ends_sentence(text: str, m: re.Match[str]) -> bool:
    punct = m.group().rstrip("\"'”’)]")
    nxt = m.end()
    while nxt < len(text) and text[nxt].isspace():
        nxt += 1
    if nxt < len(text) and text[nxt].islower():
        return False  # "approx. five", "e.g. this": a lowercase continuation
    if punct != ".":
        return True
    word_start = m.start()
    while word_start > 0 and not text[word_start - 1].isspace():
        word_start -= 1
    word = text[word_start : m.start()].lstrip(_OPENERS).lower()
    if not word:
        return True
    if len(word) == 1 and word.isalpha():
        return False  # an initial: "J. Smith"
    if word in NUMBERED_ABBREVIATIONS and nxt < len(text) and text[nxt].isdigit():
        return False
    if word == "etc":  # often the last word of a sentence: trust a capital after it
        return nxt < len(text) and text[nxt].isupper()
    return not (word in ABBREVIATIONS or _DOTTED.fullmatch(word))


def english_sentence_starts(text: str) -> list[int]:
    """Offsets where sentences begin, by punctuation (minus abbreviations/decimals) and blank lines."""
    starts = {m.end() for m in _END.finditer(text) if _ends_sentence(text, m)}
    starts.update(m.end() for m in _PARAGRAPH.finditer(text))
    return sorted(starts)


def korean_sentence_starts(text: str) -> list[int]:
    return [s.start for s in get_kiwi().split_into_sents(text)]


def sentence_spans(text: str, korean: bool) -> list[Span]:
    """Contiguous spans covering the text, one per sentence (whitespace rides with the left one)."""
    if not text:
        return []
    found = korean_sentence_starts(text) if korean else english_sentence_starts(text)
    starts = sorted({0, *(s for s in found if 0 < s < len(text))})
    return list(zip(starts, [*starts[1:], len(text)], strict=True))


def is_korean_document(doc: Document) -> bool:
    if doc.language:
        return doc.language.lower().startswith("ko")
    return is_korean(doc.text)


class SentenceChunker:
    def __init__(self, cfg: ChunkingConfig) -> None:
        self.cfg = cfg

    def split(self, doc: Document) -> list[Chunk]:
        text = doc.text
        units = make_units(text, self.cfg)
        sentences = sentence_spans(text, is_korean_document(doc))
        spans = pack_pieces(text, sentences, _OVERSIZE_SEPARATORS, units, self.cfg.size, self.cfg.overlap)
        return to_chunks(doc, spans)


@chunkers.register("sentence")
def _sentence(cfg: ChunkingConfig) -> SentenceChunker:
    return SentenceChunker(cfg)
