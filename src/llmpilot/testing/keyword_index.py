"""The tokenizer contract: a BM25 keyword index with the tokenizer must find the obvious document,
in Korean and English, and survive save/load. Keyword indexes are built by `llmpilot.factory`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmpilot import factory
from llmpilot.config import KeywordIndexConfig
from llmpilot.errors import StoreError
from llmpilot.index.keyword import load_keyword_index
from llmpilot.protocols import KeywordIndex

CORPUS: dict[str, str] = {
    "en-solar": "Solar panels convert sunlight into electricity using photovoltaic cells made of silicon.",
    "en-bread": "To bake sourdough bread you need flour, water, salt and a lively starter culture.",
    "en-whale": "The blue whale is the largest animal known to have ever lived on Earth.",
    "en-tax": "Income tax returns are due in April; late filing leads to penalties and interest.",
    "ko-kimchi": "김치는 배추를 소금에 절인 뒤 고춧가루와 젓갈로 양념해서 담그는 한국의 전통 음식이다.",
    "ko-bank": "시중은행과 지방은행은 은행법에 따라 금융위원회의 인가를 받아야 영업할 수 있다.",
    "ko-subway": "서울 지하철은 1974년에 1호선이 개통되었으며 지금은 수도권 전역을 연결한다.",
    "ko-baseball": "한국 프로야구는 1982년에 출범했고 매년 봄에 정규 시즌이 시작된다.",
    "empty": "",
    "punct": "!!! ... ???",
}
IDS = list(CORPUS)
TEXTS = list(CORPUS.values())

# Queries share an obvious word with exactly one document (an identical eojeol for Korean, so
# even the language-blind whitespace tokenizer can find it).
RELEVANT = [
    ("how do solar panels make electricity", "en-solar"),
    ("which whale is the largest animal", "en-whale"),
    ("김치는 어떻게 담그나요", "ko-kimchi"),
    ("서울 지하철 1호선 개통 연도", "ko-subway"),
]


class TokenizerContract:
    """Override `tokenizer_name` with the name your tokenizer is registered under
    (`index.keyword.tokenizer`)."""

    @pytest.fixture
    def tokenizer_name(self) -> str:
        raise NotImplementedError("override the tokenizer_name fixture: return your registered name")

    @pytest.fixture
    def index(self, tokenizer_name: str) -> KeywordIndex:
        idx = factory.keyword_index(KeywordIndexConfig(tokenizer=tokenizer_name))
        idx.build(IDS, TEXTS)
        return idx

    def test_satisfies_protocol(self, index: KeywordIndex) -> None:
        assert isinstance(index, KeywordIndex)
        assert len(index) == len(IDS)

    def test_tokenizer_is_batched_and_consistent(self, tokenizer_name: str) -> None:
        tokenize = factory.tokenizer(tokenizer_name)
        batch = tokenize(TEXTS)
        assert len(batch) == len(TEXTS)
        assert all(isinstance(tok, str) and tok for toks in batch for tok in toks)
        assert batch == [tokenize([t])[0] for t in TEXTS]
        assert tokenize([]) == []

    @pytest.mark.parametrize(("query", "expected"), RELEVANT)
    def test_obviously_relevant_document_ranks_first(
        self, index: KeywordIndex, query: str, expected: str
    ) -> None:
        [hits] = index.search([query], k=3)
        assert hits, f"no results for {query!r}"
        assert hits[0].id == expected

    def test_results_sorted_positive_and_bounded(self, index: KeywordIndex) -> None:
        queries = [q for q, _ in RELEVANT] + ["bread flour 은행 인가"]
        for hits in index.search(queries, k=4):
            assert len(hits) <= 4
            scores = [h.score for h in hits]
            assert scores == sorted(scores, reverse=True)
            assert all(s > 0 for s in scores)
            assert len({h.id for h in hits}) == len(hits)
            assert {h.id for h in hits} <= set(IDS)

    def test_k_larger_than_corpus(self, index: KeywordIndex) -> None:
        [hits] = index.search(["solar panels 김치는 서울"], k=1000)
        assert 1 <= len(hits) <= len(IDS)

    def test_batch_equals_one_by_one(self, index: KeywordIndex) -> None:
        queries = [q for q, _ in RELEVANT]
        assert index.search(queries, k=5) == [index.search([q], k=5)[0] for q in queries]

    @pytest.mark.parametrize("query", ["", "   ", "?!", "zzqxv qqqzzx", "쀍쀍쀍"])
    def test_queries_without_known_tokens_return_nothing(self, index: KeywordIndex, query: str) -> None:
        assert index.search([query], k=5) == [[]]

    def test_no_queries(self, index: KeywordIndex) -> None:
        assert index.search([], k=5) == []

    def test_empty_and_unknown_queries_mixed_with_good_ones(self, index: KeywordIndex) -> None:
        results = index.search(["", "solar panels", "zzqxv"], k=3)
        assert results[0] == [] and results[2] == []
        assert results[1][0].id == "en-solar"

    def test_invalid_k(self, index: KeywordIndex) -> None:
        with pytest.raises(ValueError, match="k must be"):
            index.search(["solar"], k=0)

    def test_empty_index(self, tokenizer_name: str, tmp_path: Path) -> None:
        idx = factory.keyword_index(KeywordIndexConfig(tokenizer=tokenizer_name))
        idx.build([], [])
        assert len(idx) == 0
        assert idx.search(["solar panels", "김치"], k=3) == [[], []]
        idx.save(tmp_path / "empty")
        loaded = load_keyword_index(tmp_path / "empty")
        assert len(loaded) == 0
        assert loaded.search(["solar"], k=3) == [[]]

    def test_save_load_gives_identical_results(
        self, index: KeywordIndex, tokenizer_name: str, tmp_path: Path
    ) -> None:
        index.save(tmp_path / "bm25")
        loaded = load_keyword_index(tmp_path / "bm25")
        assert len(loaded) == len(index)
        assert loaded.cfg.tokenizer == tokenizer_name
        queries = [q for q, _ in RELEVANT] + ["tax penalties", "야구 시즌"]
        assert loaded.search(queries, k=10) == index.search(queries, k=10)
        manifest = json.loads((tmp_path / "bm25" / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["config"]["tokenizer"] == tokenizer_name

    def test_rebuild_replaces_contents(self, index: KeywordIndex) -> None:
        index.build(["only"], ["solar panels only"])
        assert len(index) == 1
        assert [h.id for h in index.search(["solar"], k=5)[0]] == ["only"]
        assert index.search(["김치는"], k=5) == [[]]

    def test_rejects_duplicate_ids_and_mismatched_lengths(self, tokenizer_name: str) -> None:
        idx = factory.keyword_index(KeywordIndexConfig(tokenizer=tokenizer_name))
        with pytest.raises(ValueError, match="duplicate ids"):
            idx.build(["a", "b", "a"], ["x", "y", "z"])
        with pytest.raises(ValueError, match="pair up"):
            idx.build(["a", "b"], ["x"])

    def test_load_errors_are_clear(self, index: KeywordIndex, tmp_path: Path) -> None:
        with pytest.raises(StoreError, match=r"manifest\.json missing"):
            load_keyword_index(tmp_path / "nowhere")
        index.save(tmp_path / "ok")
        (tmp_path / "ok" / "manifest.json").write_text("{not json", encoding="utf-8")
        with pytest.raises(StoreError, match="unreadable index manifest"):
            load_keyword_index(tmp_path / "ok")
        index.save(tmp_path / "gone")
        for f in (tmp_path / "gone" / "bm25s").iterdir():
            f.unlink()
        with pytest.raises(StoreError, match="rebuild the index"):
            load_keyword_index(tmp_path / "gone")
