from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import insert

from llmpilot.errors import StoreError
from llmpilot.store import schema
from llmpilot.store.db import Store
from llmpilot.store.migrations import MIGRATIONS, applied
from llmpilot.types import Chunk, Document


def test_migrations_apply_once_and_are_recorded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    store = Store.open(url)
    with store.engine.connect() as conn:
        assert applied(conn) == [name for name, _ in MIGRATIONS]
    store.close()
    store = Store.open(url)  # second open applies nothing and does not fail
    with store.engine.connect() as conn:
        assert applied(conn) == [name for name, _ in MIGRATIONS]


def test_unknown_migration_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    store = Store.open(url)
    from datetime import UTC, datetime

    with store.transaction() as conn:
        conn.execute(insert(schema.migrations).values(name="m999_future", applied_at=datetime.now(UTC)))
    store.close()
    with pytest.raises(StoreError, match="m999_future"):
        Store.open(url)


def test_embedding_cache_round_trip(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    v = np.arange(4, dtype=np.float32)
    store.put_embeddings("m", {"h1": v})
    store.put_embeddings("m", {"h1": v * 2, "h2": v})  # an existing key is kept, not duplicated
    got = store.cached_embeddings("m", ["h1", "h2", "h3"])
    assert set(got) == {"h1", "h2"}
    np.testing.assert_array_equal(got["h1"], v)
    assert store.cached_embeddings("other-model", ["h1"]) == {}


def test_replace_source_and_chunks(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    docs = [Document(id="a", text="안녕하세요 세계", title="A"), Document(id="b", text="hello world")]
    with store.transaction() as conn:
        store.replace_source(
            conn,
            key="k",
            origin="o",
            fingerprint="f",
            transforms_hash="t",
            documents=[(d, f"h{d.id}", None) for d in docs],
        )
        store.replace_chunks(conn, "set1", "a", "ha", [Chunk("a#0", "a", "안녕하세요", 0, 5, 0)], ["x"])
    assert [s.document.id for s in store.documents()] == ["a", "b"]
    assert store.chunked_state("set1") == {"a": "ha"}
    # Replacing the unit with only "b" removes "a" and its chunks.
    with store.transaction() as conn:
        store.replace_source(
            conn,
            key="k",
            origin="o",
            fingerprint="f2",
            transforms_hash="t",
            documents=[(docs[1], "hb", None)],
        )
    assert [s.document.id for s in store.documents()] == ["b"]
    assert store.chunked_state("set1") == {}
    assert store.chunks("set1") == ([], [])
