"""The tokenizer/keyword index contract (llmpilot.testing.TokenizerContract), unchanged, on
`index.keyword.kind: pg_fts` (both rankings) against a real PostgreSQL server: a fresh database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from llmpilot import factory
from llmpilot.config import KeywordIndexConfig
from llmpilot.errors import StoreError
from llmpilot.index.keyword import load_keyword_index
from llmpilot.index.pg_fts import PgFtsIndex
from llmpilot.index.pgdb import URL_ENV
from llmpilot.protocols import KeywordIndex
from llmpilot.testing import TokenizerContract
from llmpilot.testing.keyword_index import IDS, TEXTS
from tests.pg_database import fresh_database


@pytest.fixture(scope="module")
def pg_db(pg_server: str) -> Iterator[str]:
    with fresh_database(pg_server, "pgfts_contract") as url:
        yield url


class TestPgFtsIndex(TokenizerContract):
    @pytest.fixture(params=[("ko", "bm25"), ("en", "bm25"), ("auto", "ts_rank_cd")], ids=str)
    def tokenizer_name(
        self, request: pytest.FixtureRequest, pg_db: str, monkeypatch: pytest.MonkeyPatch
    ) -> str:
        # The contract builds `factory.keyword_index(KeywordIndexConfig(tokenizer=...))`: here that
        # is a pg_fts index on this module's database (from the environment, as unattached).
        tokenizer, ranking = request.param
        monkeypatch.setenv(URL_ENV, pg_db)
        build = factory.keyword_index

        def pg_fts(cfg: KeywordIndexConfig) -> KeywordIndex:
            return build(cfg.model_copy(update={"kind": "pg_fts", "ranking": ranking}))

        monkeypatch.setattr(factory, "keyword_index", pg_fts)
        return str(tokenizer)

    def test_load_errors_are_clear(self, index: KeywordIndex, tmp_path: Path) -> None:
        """The contract's version deletes bm25s files; a pg_fts folder has none, its rows are in
        the database: a dropped table is the same failure."""
        assert isinstance(index, PgFtsIndex) and index.table is not None
        with pytest.raises(StoreError, match=r"manifest\.json missing"):
            load_keyword_index(tmp_path / "nowhere")
        index.save(tmp_path / "gone")
        with index._connect() as conn:
            conn.execute(f"DROP TABLE {index.table}, {index.table}_terms, {index.table}_postings")
        with pytest.raises(StoreError, match=r"rebuild the index$"):
            load_keyword_index(tmp_path / "gone")
        with pytest.raises(StoreError, match=r"rebuild the index$"):
            index.search(["solar"], k=3)


def test_bm25_ranking_scores_like_bm25s(pg_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """ranking bm25 is the same Okapi BM25 (Lucene variant) as the in-memory index."""
    monkeypatch.setenv(URL_ENV, pg_db)
    queries = ["solar panels electricity", "김치는 배추를 소금에", "bread flour 은행 인가", "zzqxv"]
    for tokenizer in ("ko", "en"):
        memory = factory.keyword_index(KeywordIndexConfig(tokenizer=tokenizer))
        pg = factory.keyword_index(KeywordIndexConfig(tokenizer=tokenizer, kind="pg_fts"))
        for idx in (memory, pg):
            idx.build(IDS, TEXTS)
        for want, got in zip(memory.search(queries, k=10), pg.search(queries, k=10), strict=True):
            assert [h.id for h in got] == [h.id for h in want]
            assert [h.score for h in got] == pytest.approx([h.score for h in want], rel=1e-5)
