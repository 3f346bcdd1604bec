"""The chunker contract: offsets, sizes, overlap and coverage on Korean and English text."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmpilot import factory
from llmpilot.chunking.tokens import get_token_counter
from llmpilot.config import ChunkingConfig
from llmpilot.protocols import Chunker
from llmpilot.types import Chunk, Document

EN_TEXT = (
    "Retrieval-augmented generation (RAG) combines a retriever with a language model. Dr. Smith and "
    "colleagues at the U.S. National Lab measured a 3.5% gain in accuracy, e.g. on open-domain QA.\n\n"
    "The retriever first splits documents into chunks. Each chunk is embedded and indexed! Why does "
    "chunk size matter? Small chunks are precise but lose context; large chunks keep context but "
    "dilute the signal.\n\n"
    "Overlap between neighbouring chunks keeps sentences that straddle a boundary retrievable. "
    "Supercalifragilisticexpialidociousandevenlongerwordswithoutanyspaceatallkeepgoing appear in "
    "noisy PDFs, so chunkers must hard-split them."
)
KO_TEXT = (
    "검색 증강 생성(RAG)은 검색기와 언어 모델을 결합한다. 한국은행은 2024년 3월 기준금리를 3.5%로 "
    "동결했다. 시중은행과 지방은행의 인가 요건에는 차이가 있어요. 최저자본금은 시중은행이 1,000억원이다.\n\n"
    "문서는 먼저 청크로 나뉜다. 각 청크는 임베딩되어 색인된다! 청크 크기는 왜 중요할까요? 작은 청크는 "
    "정확하지만 문맥을 잃고, 큰 청크는 문맥을 지키지만 신호가 흐려진다.\n\n"
    "이웃한청크사이의겹침은경계에걸친문장도검색되게하며"
    "띄어쓰기가없는아주긴문자열도잘려야한다그래야크기제한을지킬수있다. "
    "마지막 문장입니다."
)
DOCS = [
    Document(id="en-doc", text=EN_TEXT, language="en"),
    Document(id="ko-doc", text=KO_TEXT, language="ko"),
    Document(id="mixed-no-lang", text=KO_TEXT + "\n\n" + EN_TEXT),
]
#: (unit, tokenizer, size, overlap): sizes small enough that every document needs several chunks.
UNITS = [("chars", "regex", 120, 20), ("tokens", "regex", 30, 6), ("tokens", "minilm", 40, 8)]

# Text drawn from Hangul, Latin letters, digits, punctuation and whitespace, in runs like real prose.
_WORDS = st.one_of(
    st.text(alphabet="가나다라마바사아자차카타파하한국어은는이가을를다요", min_size=1, max_size=12),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ", min_size=1, max_size=15),
    st.sampled_from(["3.14", "Dr.", "U.S.", "e.g.", "1,000", "!", "?", ".", "다.", "요.", "(RAG)"]),
)
_GAPS = st.sampled_from([" ", " ", " ", "  ", "\n", "\n\n", ". ", "다. ", "? ", "\t"])
TEXTS = st.lists(st.tuples(_WORDS, _GAPS), max_size=60).map(lambda parts: "".join(w + g for w, g in parts))


def counter(unit: str, tokenizer: str) -> Callable[[str, int, int], int]:
    """Independent measure of text[start:end]: chars, or the document's tokens touching the span."""
    if unit == "chars":
        return lambda text, s, e: e - s

    def count(text: str, s: int, e: int) -> int:
        return sum(1 for a, b in get_token_counter(tokenizer).spans(text) if a < e and b > s)

    return count


def check_chunks(doc: Document, chunks: list[Chunk], cfg: ChunkingConfig) -> None:
    """The invariants every chunker promises."""
    measure = counter(cfg.unit, cfg.tokenizer)
    for i, c in enumerate(chunks):
        assert doc.text[c.start : c.end] == c.text
        assert c.id == f"{doc.id}#{i}" and c.index == i and c.doc_id == doc.id
        assert c.text.strip() == c.text and c.text, f"untrimmed or empty chunk {c.text!r}"
        assert measure(doc.text, c.start, c.end) <= cfg.size, f"chunk over {cfg.size} {cfg.unit}: {c.text!r}"
    for prev, nxt in itertools.pairwise(chunks):
        assert prev.start < nxt.start and prev.end < nxt.end, "chunks out of order"
        if nxt.start < prev.end:  # the overlap is at most `overlap` units of the preceding chunk
            assert measure(doc.text, nxt.start, prev.end) <= cfg.overlap
    # Nothing is lost: every non-space character lies in some chunk.
    covered = [False] * len(doc.text)
    for c in chunks:
        covered[c.start : c.end] = [True] * (c.end - c.start)
    missing = [i for i, ch in enumerate(doc.text) if not ch.isspace() and not covered[i]]
    assert not missing, f"text not covered by any chunk at offsets {missing[:10]}"


class ChunkerContract:
    """Override `chunker_name` with the name your chunker is registered under (`chunking.method`)."""

    @pytest.fixture
    def chunker_name(self) -> str:
        raise NotImplementedError("override the chunker_name fixture: return your registered name")

    def make(
        self, name: str, unit: str, tokenizer: str, size: int, overlap: int
    ) -> tuple[Chunker, ChunkingConfig]:
        cfg = ChunkingConfig(method=name, size=size, overlap=overlap, unit=unit, tokenizer=tokenizer)
        return factory.chunker(cfg), cfg

    @pytest.mark.parametrize(("unit", "tokenizer", "size", "overlap"), UNITS)
    @pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.id)
    def test_invariants_on_korean_and_english(
        self, chunker_name: str, unit: str, tokenizer: str, size: int, overlap: int, doc: Document
    ) -> None:
        chunker, cfg = self.make(chunker_name, unit, tokenizer, size, overlap)
        assert isinstance(chunker, Chunker)
        chunks = chunker.split(doc)
        assert len(chunks) >= 3
        check_chunks(doc, chunks, cfg)

    @pytest.mark.parametrize(("unit", "tokenizer", "size", "overlap"), UNITS)
    @pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.id)
    def test_no_overlap_means_disjoint_chunks(
        self, chunker_name: str, unit: str, tokenizer: str, size: int, overlap: int, doc: Document
    ) -> None:
        chunker, cfg = self.make(chunker_name, unit, tokenizer, size, 0)
        chunks = chunker.split(doc)
        check_chunks(doc, chunks, cfg)
        assert all(b.start >= a.end for a, b in itertools.pairwise(chunks))

    @pytest.mark.parametrize("unit", ["chars", "tokens"])
    @pytest.mark.parametrize("text", ["  짧은 한국어 문서입니다.\n", "\n A short English document. \t"])
    def test_short_document_is_one_trimmed_chunk(self, chunker_name: str, unit: str, text: str) -> None:
        chunker, _ = self.make(chunker_name, unit, "regex", 200, 10)
        [chunk] = chunker.split(Document(id="short", text=text))
        assert chunk.text == text.strip()
        start = text.index(text.strip())
        assert (chunk.start, chunk.end) == (start, start + len(text.strip()))
        assert chunk.id == "short#0"

    @pytest.mark.parametrize("text", ["", "   \n\t  "])
    def test_empty_or_blank_document_has_no_chunks(self, chunker_name: str, text: str) -> None:
        chunker, _ = self.make(chunker_name, "chars", "regex", 50, 5)
        assert chunker.split(Document(id="blank", text=text)) == []

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        text=TEXTS,
        size=st.integers(min_value=8, max_value=80),
        overlap_share=st.floats(min_value=0.0, max_value=0.9),
        unit=st.sampled_from(["chars", "tokens"]),
        language=st.sampled_from([None, "ko", "en"]),
    )
    def test_offset_invariants_hold_for_any_text(
        self,
        chunker_name: str,
        text: str,
        size: int,
        overlap_share: float,
        unit: str,
        language: str | None,
    ) -> None:
        overlap = min(size - 1, int(size * overlap_share))
        chunker, cfg = self.make(chunker_name, unit, "regex", size, overlap)
        doc = Document(id="doc", text=text, language=language)
        check_chunks(doc, chunker.split(doc), cfg)
