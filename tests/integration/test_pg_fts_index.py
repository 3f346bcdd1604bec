"""`index.keyword.kind: pg_fts` on a real PostgreSQL server: namespaces kept apart, save/load, and a
hybrid project whose keyword and vector indexes both live in its PostgreSQL store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from llmpilot.config import KeywordIndexConfig
from llmpilot.errors import ConfigError, StoreError
from llmpilot.index.keyword import load_keyword_index
from llmpilot.index.pg_fts import REGISTRY_TABLE, PgFtsIndex, tsvector_literal
from llmpilot.index.pgdb import URL_ENV, Scope
from llmpilot.index.pgvector import PgVectorIndex
from llmpilot.indexing import open_indexes
from llmpilot.pipeline import Pipeline
from tests.fixtures.serving import keyword_project
from tests.pg_database import fresh_database


@pytest.fixture(scope="module")
def pg_db(pg_server: str) -> Iterator[str]:
    with fresh_database(pg_server, "pgfts_integration") as url:
        yield url


def sql(url: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    u = make_url(url)
    with psycopg.connect(host=u.host, port=u.port, user=u.username, dbname=u.database) as conn:
        cur = conn.execute(query, args)
        return cur.fetchall() if cur.description is not None else []


def fts(url: str, collection: str, **cfg: Any) -> PgFtsIndex:
    idx = PgFtsIndex(KeywordIndexConfig(kind="pg_fts", tokenizer="ko", url=url, **cfg))
    idx.attach(url, Scope("default", collection, "c1", "h1"))
    return idx


def test_tokens_with_quotes_and_backslashes_survive(pg_db: str) -> None:
    tokens = ["it's", "back\\slash", "it's", "plain"]
    rows = sql(pg_db, "SELECT lexeme, positions FROM unnest(%s::tsvector)", tsvector_literal(tokens))
    assert sorted(rows) == [("back\\slash", [2]), ("it's", [1, 3]), ("plain", [4])]


def test_collections_never_see_each_others_rows(pg_db: str) -> None:
    a, b = fts(pg_db, "a"), fts(pg_db, "b")
    a.build(["doc"], ["김치는 배추로 담근다"])
    b.build(["doc", "other"], ["서울 지하철 1호선", "김치 없는 문서"])
    assert [h.id for h in a.search(["지하철"], k=5)[0]] == []
    assert [h.id for h in b.search(["지하철"], k=5)[0]] == ["doc"]
    assert sorted(sql(pg_db, f"SELECT collection, count FROM {REGISTRY_TABLE}")) == [("a", 1), ("b", 2)]


def test_save_load_and_a_rebuild_elsewhere(pg_db: str, tmp_path: Path) -> None:
    secret = pg_db.replace("postgres@", "postgres:s3cret@")  # trust auth ignores the password
    idx = fts(secret, "saved")
    idx.build(["ko", "en"], ["한국 프로야구는 1982년에 출범했다", "the blue whale is the largest animal"])
    idx.save(tmp_path / "kw")
    assert "s3cret" not in (tmp_path / "kw" / "manifest.json").read_text(encoding="utf-8")
    loaded = load_keyword_index(tmp_path / "kw")
    assert isinstance(loaded, PgFtsIndex)
    assert loaded.search(["프로야구 출범", "whale"], k=3) == idx.search(["프로야구 출범", "whale"], k=3)
    fts(pg_db, "saved").build(["x"], ["다시 만든 색인"])
    with pytest.raises(StoreError, match=r"no longer in .*; rebuild the index$"):
        load_keyword_index(tmp_path / "kw")


def test_no_database_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(URL_ENV, raising=False)
    with pytest.raises(ConfigError, match=r"pg_fts needs a PostgreSQL database: .*index\.keyword\.url"):
        PgFtsIndex(KeywordIndexConfig(kind="pg_fts")).build(["a"], ["text"])


def test_hybrid_project_keeps_both_indexes_in_its_postgresql_store(pg_db: str, tmp_path: Path) -> None:
    with fresh_database(pg_db, "pgfts_project") as store_url:
        project = keyword_project(
            tmp_path,
            store=store_url,
            embedder={"name": "hashing"},
            retrieval={"mode": "hybrid", "top_k": 3},
            index={"keyword": {"kind": "pg_fts", "tokenizer": "ko"}, "vector": {"kind": "pgvector"}},
        )
        try:
            pipeline = Pipeline(project)
            hits = pipeline.search("반품 운송비는 얼마인가요?")
            assert hits and hits[0].chunk.doc_id.endswith("returns_ko.txt")
            indexes = pipeline.indexes
            assert isinstance(indexes.keyword, PgFtsIndex) and isinstance(indexes.vector, PgVectorIndex)
            folder = project.index_dir / project.config.index_hash()
            manifest = json.loads((folder / "keyword" / "manifest.json").read_text(encoding="utf-8"))
            assert manifest["kind"] == "pg_fts" and manifest["table"] == indexes.keyword.table
            again = open_indexes(project, need_vector=True, embedder=pipeline.embedder)
            assert again.loaded and isinstance(again.keyword, PgFtsIndex)
            assert again.keyword.search(["반품 운송비"], k=3) == indexes.keyword.search(["반품 운송비"], k=3)
        finally:
            project.close()
