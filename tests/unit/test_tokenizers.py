"""What each BM25 tokenizer keeps and drops, in Korean and English."""

from __future__ import annotations

from llmpilot.index.tokenizers import (
    KoreanBigramTokenizer,
    KoreanMorphTokenizer,
    create_tokenizer,
    get_kiwi,
    hangul_ratio,
    is_korean,
)


def test_en_lowercases_stems_and_drops_stopwords() -> None:
    [tokens] = create_tokenizer("en")(["The Runners were running quickly to the Stations of big cities"])
    assert tokens == ["runner", "were", "run", "quick", "station", "big", "citi"]


def test_ko_morph_keeps_content_morphemes() -> None:
    [tokens] = create_tokenizer("ko-morph")(
        ["한국은행이 기준금리를 동결했다. 물가가 BM25와 Python으로 돕는다 3개"]
    )
    assert "한국은행" in tokens or {"한국", "은행"} <= set(tokens)
    assert {"기준", "금리", "동결", "물가", "bm", "25", "python", "돕", "3"} <= set(tokens)
    assert not {"이", "를", "했다", "가", "와", "으로", "."} & set(tokens)  # particles, endings, punctuation


def test_ko_morph_irregular_verb_stems_are_kept() -> None:
    # Kiwi tags irregular stems "VV-I"; they must still count as verbs.
    [tokens] = KoreanMorphTokenizer()(["고기를 구워 먹었다"])
    assert {"고기", "굽", "먹"} <= set(tokens)


def test_ko_bigram() -> None:
    [tokens] = KoreanBigramTokenizer()(["한국어 책 RAG-Pipeline 2024"])
    assert tokens == ["한국", "국어", "책", "rag", "pipeline", "2024"]


def test_ko_is_morphemes_plus_bigrams() -> None:
    text = "지방은행의 시중은행 전환"
    [combined] = create_tokenizer("ko")([text])
    [morphs] = create_tokenizer("ko-morph")([text])
    [bigrams] = create_tokenizer("ko-bigram")([text])
    assert combined == morphs + bigrams


def test_auto_chooses_per_text() -> None:
    auto = create_tokenizer("auto")
    texts = ["은행의 인가 요건은 무엇인가요?", "What are the running costs?", "BM25 검색은 빠르다"]
    out = auto(texts)
    assert out[0] == create_tokenizer("ko")([texts[0]])[0]
    assert out[1] == create_tokenizer("en")([texts[1]])[0] == ["what", "run", "cost"]
    assert out[2] == create_tokenizer("ko")([texts[2]])[0]


def test_whitespace() -> None:
    assert create_tokenizer("whitespace")(["Hello  World\n한국어 문장"]) == [
        ["hello", "world", "한국어", "문장"]
    ]


def test_hangul_ratio_and_threshold() -> None:
    assert hangul_ratio("") == 0.0
    assert hangul_ratio("123 !!") == 0.0
    assert hangul_ratio("한국") == 1.0
    assert hangul_ratio("ab한국") == 0.5
    assert is_korean("BM25 검색") and not is_korean("Python and 한")


def test_kiwi_is_built_once() -> None:
    assert get_kiwi() is get_kiwi()
