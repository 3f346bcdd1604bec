"""`index.vector.kind: pgvector` on a real PostgreSQL + pgvector server: namespaces kept apart,
recall of HNSW and IVFFlat against exact search (and that their knobs reach the server), save/load,
one-line errors, and a project that ingests and searches through it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from sqlalchemy.engine import make_url

from llmpilot.config import VectorIndexConfig
from llmpilot.errors import ConfigError, StoreError
from llmpilot.index.pgdb import URL_ENV, Scope
from llmpilot.index.pgvector import REGISTRY_TABLE, PgVectorIndex
from llmpilot.index.vector import load_vector_index
from llmpilot.indexing import open_indexes
from llmpilot.pipeline import Pipeline
from llmpilot.testing.vector_index import unit_vectors
from tests.fixtures.serving import keyword_project
from tests.pg_database import fresh_database

DIM = 64


@pytest.fixture(scope="module")
def pg_db(pg_server: str) -> Iterator[str]:
    with fresh_database(pg_server, "pgv_integration") as url:
        yield url


def pg_index(url: str, **cfg: Any) -> PgVectorIndex:
    return PgVectorIndex(VectorIndexConfig(kind="pgvector", url=url, **cfg), DIM)


def scope(tenant: str = "default", collection: str = "docs", index_hash: str = "h1") -> Scope:
    return Scope(tenant=tenant, collection=collection, chunk_set="c1", index_hash=index_hash)


def sql(url: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    u = make_url(url)
    with psycopg.connect(host=u.host, port=u.port, user=u.username, dbname=u.database) as conn:
        cur = conn.execute(query, args)
        return cur.fetchall() if cur.description is not None else []


def recall_at_10(index: PgVectorIndex, corpus: np.ndarray, queries: np.ndarray) -> float:
    ids = [f"v{i}" for i in range(len(corpus))]
    index.build(ids, corpus)
    truth = np.argsort(-(queries @ corpus.T), axis=1, kind="stable")[:, :10]
    found = index.search(queries, k=10)
    return float(
        np.mean(
            [len({ids[i] for i in t} & {h.id for h in f}) / 10 for t, f in zip(truth, found, strict=True)]
        )
    )


# --- namespaces --------------------------------------------------------------------------------------


def test_tenants_and_collections_never_see_each_others_rows(pg_db: str) -> None:
    ids = ["same-id-1", "same-id-2", "only-mine"]
    scopes = [scope("acme", "docs"), scope("acme", "faq"), scope("globex", "docs")]
    indexes = []
    for n, s in enumerate(scopes):
        idx = pg_index(pg_db)
        idx.attach(pg_db, s)
        idx.build(ids[: 2 + (n == 0)], unit_vectors(2 + (n == 0), DIM, seed=100 + n))
        indexes.append(idx)
    assert len({s.namespace for s in scopes}) == 3
    for n, idx in enumerate(indexes):
        mine = unit_vectors(2 + (n == 0), DIM, seed=100 + n)
        hits = idx.search(mine, k=10)
        # Each finds exactly its own rows, scored against its own vectors.
        assert [sorted(h.id for h in row) for row in hits] == [sorted(ids[: 2 + (n == 0)])] * len(mine)
        assert all(abs(row[0].score - 1.0) < 1e-4 for row in hits)
    rows = sql(pg_db, f"SELECT tenant, collection, count FROM {REGISTRY_TABLE} WHERE namespace = ANY(%s)",
               [s.namespace for s in scopes])  # fmt: skip
    assert sorted(rows) == [("acme", "docs", 3), ("acme", "faq", 2), ("globex", "docs", 2)]


def test_a_rebuild_of_one_scope_replaces_its_table_and_no_other(pg_db: str) -> None:
    a, b = pg_index(pg_db), pg_index(pg_db)
    a.attach(pg_db, scope("t", "rebuild-a"))
    b.attach(pg_db, scope("t", "rebuild-b"))
    a.build(["x"], unit_vectors(1, DIM))
    b.build(["y"], unit_vectors(1, DIM, seed=1))
    first = a.table
    again = pg_index(pg_db)  # another process rebuilding the same scope
    again.attach(pg_db, scope("t", "rebuild-a"))
    again.build(["x2", "x3"], unit_vectors(2, DIM))
    assert sql(pg_db, "SELECT to_regclass(%s)", first) == [(None,)]  # the old table is dropped
    assert [h.id for h in b.search(unit_vectors(1, DIM, seed=1), k=5)[0]] == ["y"]
    # A server that loaded `a` keeps answering: it follows the registry to the new table and returns
    # only ids it knows (its chunks are from load time) — here none, since every id changed.
    assert a.search(unit_vectors(1, DIM), k=3) == [[]] and a.table == again.table
    both = pg_index(pg_db)
    both.attach(pg_db, scope("t", "rebuild-a"))
    both.build(["x2", "x3"], unit_vectors(2, DIM))  # ids `again` knows: found after its table went
    assert sorted(h.id for h in again.search(unit_vectors(2, DIM), k=3)[0]) == ["x2", "x3"]
    # A reset database (registry row gone too): a clear error, not a traceback.
    sql(pg_db, f"DROP TABLE {both.table}")
    sql(pg_db, f"DELETE FROM {REGISTRY_TABLE} WHERE namespace = %s", both.namespace)
    with pytest.raises(StoreError, match=r"is gone .*or rebuild the index$"):
        both.search(unit_vectors(1, DIM), k=3)


# --- recall and the knobs -------------------------------------------------------------------------------


CORPUS = unit_vectors(2000, DIM, seed=10)
QUERIES = unit_vectors(100, DIM, seed=11)


@pytest.mark.parametrize("method", ["hnsw", "ivfflat"])
def test_recall_at_10_against_exact(pg_db: str, method: str) -> None:
    assert recall_at_10(pg_index(pg_db, method=method), CORPUS, QUERIES) >= 0.9


def test_the_ann_index_is_what_answers(pg_db: str) -> None:
    """Starved settings lose recall: the searches go through the HNSW/IVFFlat index, with the
    configured ef_search / probes (a sequential scan would stay exact whatever they are)."""
    weak_hnsw = pg_index(pg_db, connectivity=4, ef_construction=8, expansion_search=10)
    assert recall_at_10(weak_hnsw, CORPUS, QUERIES) < 0.6
    ivf_one_probe = pg_index(pg_db, method="ivfflat", lists=40, probes=1)
    assert recall_at_10(ivf_one_probe, CORPUS, QUERIES) < 0.6
    ivf_all_probes = pg_index(pg_db, method="ivfflat", lists=40, probes=40)
    assert recall_at_10(ivf_all_probes, CORPUS, QUERIES) >= 0.99


def test_ip_metric_scores_inner_products(pg_db: str) -> None:
    idx = pg_index(pg_db, metric="ip")
    idx.build([f"v{i}" for i in range(50)], CORPUS[:50])
    [hits] = idx.search(QUERIES[:1], k=5)
    for h in hits:
        assert h.score == pytest.approx(float(CORPUS[int(h.id[1:])] @ QUERIES[0]), abs=1e-5)


# --- persistence -------------------------------------------------------------------------------------


def test_save_load_round_trip_without_the_password(pg_db: str, tmp_path: Path) -> None:
    idx = pg_index(pg_db.replace("postgres@", "postgres:s3cret@"))  # trust auth ignores it
    idx.attach(pg_db.replace("postgres@", "postgres:s3cret@"), scope("t", "saved"))
    idx.build([f"v{i}" for i in range(300)], CORPUS[:300])
    idx.save(tmp_path / "vec")
    text = (tmp_path / "vec" / "manifest.json").read_text(encoding="utf-8")
    assert "s3cret" not in text
    manifest = json.loads(text)
    assert manifest["kind"] == "pgvector" and manifest["table"] == idx.table and manifest["count"] == 300
    loaded = load_vector_index(tmp_path / "vec")
    assert isinstance(loaded, PgVectorIndex) and loaded.namespace == idx.namespace
    assert loaded.search(QUERIES[:10], k=7) == idx.search(QUERIES[:10], k=7)
    # A rebuild elsewhere drops the saved table: loading says so, in one line.
    other = pg_index(pg_db)
    other.attach(pg_db, scope("t", "saved"))
    other.build(["a"], CORPUS[:1])
    with pytest.raises(StoreError, match=r"no longer in .*; rebuild the index$") as err:
        load_vector_index(tmp_path / "vec")
    assert "\n" not in str(err.value) and "s3cret" not in str(err.value)


# --- errors -------------------------------------------------------------------------------------------


def test_no_database_configured_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(URL_ENV, raising=False)
    idx = PgVectorIndex(VectorIndexConfig(kind="pgvector"), DIM)
    with pytest.raises(
        ConfigError, match=r"needs a PostgreSQL database: set `store` .* or index\.vector\.url"
    ):
        idx.build(["a"], unit_vectors(1, DIM))
    with pytest.raises(ConfigError, match="is not PostgreSQL"):
        pg_index("sqlite:///x.db").build(["a"], unit_vectors(1, DIM))


def test_unreachable_server_is_one_line(pg_db: str) -> None:
    dead = make_url(pg_db).set(port=1, password="pw").render_as_string(hide_password=False)
    with pytest.raises(
        StoreError, match=r"^cannot connect to the database of index.vector.kind pgvector at .*running$"
    ) as err:
        pg_index(dead).build(["a"], unit_vectors(1, DIM))
    assert "\n" not in str(err.value) and ":pw@" not in str(err.value)


def test_missing_extension_is_one_line(pg_db: str) -> None:
    """A database without the extension, opened by a role that may not create it."""
    with fresh_database(pg_db, "pgv_noext") as url:
        role = "pgv_" + make_url(url).database[-10:]  # type: ignore[index]
        sql(url, f"CREATE ROLE {role} LOGIN")
        try:
            as_role = make_url(url).set(username=role).render_as_string(hide_password=False)
            with pytest.raises(
                StoreError, match=r"has no pgvector extension .*CREATE EXTENSION vector\)$"
            ) as err:
                pg_index(as_role).build(["a"], unit_vectors(1, DIM))
            assert "\n" not in str(err.value)
        finally:
            from llmpilot.index.pgdb import close_engines

            close_engines()
            sql(url, f"DROP OWNED BY {role}")
            sql(url, f"DROP ROLE {role}")


# --- a project ---------------------------------------------------------------------------------------


def test_project_on_a_postgresql_store_builds_and_reloads(pg_db: str, tmp_path: Path) -> None:
    """Ingest the sample corpus into a PostgreSQL store; the dense index lives in that database,
    reloads from the saved folder, and is rebuilt when its table is gone."""
    with fresh_database(pg_db, "pgv_project") as store_url:
        project = keyword_project(
            tmp_path,
            store=store_url,
            embedder={"name": "hashing"},
            retrieval={"mode": "dense", "top_k": 3},
            index={"vector": {"kind": "pgvector"}},
        )
        try:
            pipeline = Pipeline(project)
            hits = pipeline.search("How many years does the battery warranty last?")
            assert hits and hits[0].chunk.doc_id.endswith("warranty.md")
            built = pipeline.indexes.vector
            assert isinstance(built, PgVectorIndex) and not pipeline.indexes.loaded
            scope_row = sql(store_url, f"SELECT tenant, collection FROM {REGISTRY_TABLE}")
            assert scope_row == [("default", "project")]

            again = open_indexes(project, need_vector=True, embedder=pipeline.embedder)
            assert again.loaded and isinstance(again.vector, PgVectorIndex)
            assert again.vector.table == built.table
            sql(store_url, f"DROP TABLE {built.table}")
            rebuilt = open_indexes(project, need_vector=True, embedder=pipeline.embedder)
            assert not rebuilt.loaded and isinstance(rebuilt.vector, PgVectorIndex)
            assert rebuilt.vector.table != built.table and len(rebuilt.vector) == len(built)
        finally:
            project.close()
