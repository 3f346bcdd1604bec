"""Chunker behaviours beyond the shared contract: where cuts fall, sentence splitting, token units."""

from __future__ import annotations

import itertools

import pytest

from llmpilot.chunking import create_chunker
from llmpilot.chunking.base import CharUnits, TokenUnits, pack, split_keep, trim
from llmpilot.chunking.fixed import FixedChunker
from llmpilot.chunking.recursive import DEFAULT_SEPARATORS, RecursiveChunker
from llmpilot.chunking.sentence import (
    SentenceChunker,
    english_sentence_starts,
    is_korean_document,
    sentence_spans,
)
from llmpilot.chunking.tokens import count_tokens, get_token_counter
from llmpilot.config import ChunkingConfig
from llmpilot.errors import ConfigError
from llmpilot.types import Document


def sentences(text: str, korean: bool) -> list[str]:
    return [text[a:b].strip() for a, b in sentence_spans(text, korean)]


# --- sentence splitting -------------------------------------------------------------------------


def test_english_sentences_respect_abbreviations_and_decimals() -> None:
    text = (
        "Dr. Smith moved to the U.S. in 2020. He measured 3.14 units, e.g. in the lab. "
        "J. Doe et al. replied! Was it good? See Fig. 2 for details. I said no. Then left."
    )
    assert sentences(text, korean=False) == [
        "Dr. Smith moved to the U.S. in 2020.",
        "He measured 3.14 units, e.g. in the lab.",
        "J. Doe et al. replied!",
        "Was it good?",
        "See Fig. 2 for details.",
        "I said no.",
        "Then left.",
    ]


def test_english_blank_line_ends_a_sentence_and_quotes_stay_with_it() -> None:
    text = 'A heading without a period\n\nShe said "Stop." Then nothing.'
    assert sentences(text, korean=False) == [
        "A heading without a period",
        'She said "Stop."',
        "Then nothing.",
    ]
    assert english_sentence_starts("") == []


def test_korean_sentences_by_kiwi() -> None:
    text = (
        "한국은행은 기준금리를 3.5%로 동결했다. 물가는 안정되고 있어요! 앞으로는 어떻게 될까요? 지켜봐야 한다"
    )
    assert sentences(text, korean=True) == [
        "한국은행은 기준금리를 3.5%로 동결했다.",
        "물가는 안정되고 있어요!",
        "앞으로는 어떻게 될까요?",
        "지켜봐야 한다",
    ]


def test_language_choice_per_document() -> None:
    assert is_korean_document(Document(id="a", text="이것은 한국어 문서입니다 with some English"))
    assert not is_korean_document(Document(id="b", text="An English document 그리고 한 단어"))
    assert is_korean_document(Document(id="c", text="English text", language="ko"))
    assert not is_korean_document(Document(id="d", text="한국어 문서", language="en"))


def test_sentence_chunker_packs_whole_sentences_with_sentence_overlap() -> None:
    text = "첫째 문장이다. 둘째 문장이다. 셋째 문장이다. 넷째 문장이다. 다섯째 문장이다."
    chunks = SentenceChunker(ChunkingConfig(method="sentence", size=20, overlap=9)).split(
        Document(id="k", text=text)
    )
    assert [c.text for c in chunks] == [
        "첫째 문장이다. 둘째 문장이다.",
        "둘째 문장이다. 셋째 문장이다.",
        "셋째 문장이다. 넷째 문장이다.",
        "넷째 문장이다. 다섯째 문장이다.",
    ]


def test_sentence_longer_than_size_is_cut_at_words() -> None:
    text = "This single sentence is much longer than the tiny chunk size allows for it."
    chunks = SentenceChunker(ChunkingConfig(size=20, overlap=0)).split(Document(id="e", text=text))
    assert all(len(c.text) <= 20 for c in chunks)
    assert " ".join(c.text for c in chunks) == text
    assert all(text[c.start - 1] == " " for c in chunks[1:])  # no word was cut


# --- fixed ---------------------------------------------------------------------------------------


def test_fixed_moves_cut_back_to_whitespace() -> None:
    # Words of at most 5 letters: the last 10% of a 60-char window always holds a space.
    text = "alpha bravo delta echo golf hotel india kilo lima mike oscar papa romeo tango zulu " * 3
    chunks = FixedChunker(ChunkingConfig(method="fixed", size=60, overlap=0)).split(
        Document(id="f", text=text)
    )
    text = text.strip()
    assert len(chunks) > 3 and all(len(c.text) <= 60 for c in chunks)
    assert " ".join(c.text for c in chunks) == text  # every cut fell on a space


def test_fixed_korean_cuts_between_eojeol_and_overlaps() -> None:
    text = "대한민국의 수도는 서울특별시이며 가장 큰 항구 도시는 부산광역시이다 " * 4
    chunks = FixedChunker(ChunkingConfig(method="fixed", size=40, overlap=10)).split(
        Document(id="k", text=text.strip())
    )
    doc = text.strip()
    for c in chunks:
        assert c.start == 0 or doc[c.start - 1] == " "
        assert c.end == len(doc) or doc[c.end] == " "
    overlaps = [a.end - b.start for a, b in itertools.pairwise(chunks)]
    assert all(0 < o <= 10 for o in overlaps)


def test_fixed_hard_cuts_a_word_longer_than_the_window() -> None:
    text = "x" * 25
    chunks = FixedChunker(ChunkingConfig(method="fixed", size=10, overlap=2)).split(
        Document(id="x", text=text)
    )
    assert [(c.start, c.end) for c in chunks] == [(0, 10), (8, 18), (16, 25)]


# --- recursive -----------------------------------------------------------------------------------


def test_recursive_prefers_paragraphs_then_sentences() -> None:
    p1 = "First paragraph has two sentences. This is the second one."
    p2 = "Second paragraph is short."
    text = f"{p1}\n\n{p2}"
    chunks = RecursiveChunker(ChunkingConfig(size=60, overlap=0)).split(Document(id="r", text=text))
    assert [c.text for c in chunks] == [p1, p2]
    small = RecursiveChunker(ChunkingConfig(size=40, overlap=0)).split(Document(id="r", text=text))
    assert [c.text for c in small] == ["First paragraph has two sentences.", "This is the second one.", p2]


def test_recursive_offsets_exact_with_repeated_text() -> None:
    # Identical paragraphs: a splitter that re-finds joined strings would report the first copy's offsets.
    para = "같은 문단이 반복된다. 같은 문단이 반복된다."
    text = "\n\n".join([para] * 4)
    chunks = RecursiveChunker(ChunkingConfig(size=30, overlap=0)).split(Document(id="rep", text=text))
    starts = [c.start for c in chunks]
    assert starts == sorted(set(starts))
    assert all(text[c.start : c.end] == c.text for c in chunks)
    assert len(chunks) >= 4


def test_recursive_custom_separators() -> None:
    text = "a1|b2|c3|d4|e5"
    cfg = ChunkingConfig(size=6, overlap=0, separators=["|"])
    assert [c.text for c in RecursiveChunker(cfg).split(Document(id="s", text=text))] == [
        "a1|b2|",
        "c3|d4|",
        "e5",
    ]
    assert DEFAULT_SEPARATORS[-1] == "" and "다. " in DEFAULT_SEPARATORS


def test_recursive_overlap_is_whole_trailing_pieces() -> None:
    text = "one two three four five six seven eight nine ten"
    chunks = RecursiveChunker(ChunkingConfig(size=15, overlap=6)).split(Document(id="o", text=text))
    assert [c.text for c in chunks] == [
        "one two three",
        "three four five",
        "five six seven",
        "seven eight",
        "eight nine ten",
    ]


# --- units and helpers ---------------------------------------------------------------------------


def test_regex_token_counter() -> None:
    counter = get_token_counter("regex")
    text = "RAG는 3.5%다!"
    assert [text[a:b] for a, b in counter.spans(text)] == ["RAG", "는", "3", ".", "5", "%", "다", "!"]
    assert count_tokens("한국어 문장과 English words.") == 5


def test_minilm_token_counter_uses_wordpiece_offsets() -> None:
    counter = get_token_counter("minilm")
    assert counter.count("unbelievably") > 1  # sub-words
    assert counter.count("a " * 300) == 300  # no truncation at the shipped 128
    spans = counter.spans("한국")
    assert len(spans) > 2 and {s for s in spans} == {(0, 1), (1, 2)}  # jamo share a syllable's span


def test_unknown_token_counter_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="minilm"):
        get_token_counter("gpt-17")


def test_token_units_group_tokens_sharing_characters() -> None:
    text = "ab 한국"
    units = TokenUnits(text, [(0, 2), (3, 4), (3, 4), (4, 5), (4, 5), (4, 5)])
    assert units.count(0, len(text)) == 6
    assert units.count(3, 4) == 2
    assert units.end_after(0, 3) == 4  # "ab" + "한"(2 tokens)
    assert units.end_after(0, 2) == 2  # "한" does not fit beside "ab"
    assert units.end_after(3, 1) == 4  # one atom is always taken, even if over
    assert units.start_before(5, 3) == 4
    assert units.atoms(0, 5) == [(0, 2), (2, 4), (4, 5)]


def test_char_units_and_helpers() -> None:
    units = CharUnits("hello world")
    assert units.count(2, 7) == 5 and units.end_after(8, 10) == 11 and units.start_before(4, 10) == 0
    assert trim("  ab  ", 0, 6) == (2, 4) and trim("   ", 0, 3)[0] >= trim("   ", 0, 3)[1]
    assert split_keep("a. b. c", 0, 7, ". ") == [(0, 3), (3, 6), (6, 7)]
    assert pack([(0, 3), (3, 6), (6, 7)], CharUnits("a. b. c"), 6, 3) == [(0, 6), (3, 7)]


def test_create_chunker_follows_method_and_chunk_ids() -> None:
    for method, cls in [
        ("fixed", FixedChunker),
        ("recursive", RecursiveChunker),
        ("sentence", SentenceChunker),
    ]:
        chunker = create_chunker(ChunkingConfig(method=method, size=50, overlap=5))  # type: ignore[arg-type]
        assert isinstance(chunker, cls)
    chunks = create_chunker(ChunkingConfig(size=12, overlap=0)).split(
        Document(id="docs/a.md", text="one two three four")
    )
    assert [c.id for c in chunks] == ["docs/a.md#0", "docs/a.md#1"]


def test_tokens_unit_limits_chunk_token_counts() -> None:
    text = (
        "검색 증강 생성은 검색기와 언어 모델을 결합한다. Retrieval augmented generation combines both. " * 5
    )
    cfg = ChunkingConfig(method="recursive", size=12, overlap=3, unit="tokens", tokenizer="regex")
    chunks = create_chunker(cfg).split(Document(id="t", text=text))
    assert len(chunks) > 5
    assert all(count_tokens(c.text) <= 12 for c in chunks)
    assert max(count_tokens(c.text) for c in chunks) >= 8  # packed, not one word per chunk
