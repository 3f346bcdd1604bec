"""API keys, traces and feedback in the store: hashed keys, revocation, tenant-scoped reads."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from llmpilot.errors import LlmpilotError
from llmpilot.store.db import Store
from llmpilot.store.serving import ServingStore, TraceRecord


@pytest.fixture
def store(tmp_path: Path) -> ServingStore:
    return ServingStore(Store.open(f"sqlite:///{tmp_path / 'db.sqlite'}"))


def trace(tenant: str, question: str = "q") -> TraceRecord:
    return TraceRecord(
        tenant=tenant,
        collection="c",
        question=question,
        answer="a",
        abstained=False,
        reason="",
        confidence=0.9,
        citations=[],
        sources=[],
        latency_ms={"retrieve": 1.0, "generate": 2.0, "total": 3.0},
        details={},
        config_hash="h",
    )


def test_keys_are_stored_as_sha256_only(store: ServingStore, tmp_path: Path) -> None:
    record, key = store.create_key("acme", "admin", "ops")
    assert key.startswith("lp_") and len(key) > 40
    with sqlite3.connect(tmp_path / "db.sqlite") as conn:
        rows = conn.execute("SELECT key_hash FROM api_keys").fetchall()
    assert rows == [(hashlib.sha256(key.encode()).hexdigest(),)]
    found = store.key_for_secret(key)
    assert found is not None and (found.id, found.tenant, found.role, found.name) == (
        record.id,
        "acme",
        "admin",
        "ops",
    )
    assert store.key_for_secret(key + "x") is None


def test_revoked_keys_are_still_found_but_marked(store: ServingStore) -> None:
    record, key = store.create_key("acme")
    store.revoke_key(record.id)
    found = store.key_for_secret(key)
    assert found is not None and found.revoked
    with pytest.raises(LlmpilotError, match="no API key with id 999"):
        store.revoke_key(999)


def test_bad_role_or_tenant_is_refused(store: ServingStore) -> None:
    with pytest.raises(LlmpilotError, match="--role"):
        store.create_key("acme", "root")
    with pytest.raises(LlmpilotError, match="--tenant"):
        store.create_key("  ")


def test_traces_and_feedback_are_tenant_scoped(store: ServingStore) -> None:
    a = store.add_trace(trace("acme", "from acme"))
    b = store.add_trace(trace("globex", "from globex"))
    assert [t["question"] for t in store.traces("acme")] == ["from acme"]
    assert store.trace("acme", b) is None and store.trace("globex", b) is not None
    assert store.add_feedback("acme", b, "thumbs_up") is None  # another tenant's trace
    fid = store.add_feedback("acme", a, "correction", correction="better")
    assert fid is not None
    assert store.traces("acme")[0]["n_feedback"] == 1
    items = store.feedback("acme")
    assert [(i["id"], i["signal"], i["correction"], i["question"]) for i in items] == [
        (fid, "correction", "better", "from acme")
    ]
    assert store.feedback("globex") == []
    detail = store.trace("acme", a)
    assert detail is not None and [f["id"] for f in detail["feedback"]] == [fid]
    with pytest.raises(LlmpilotError, match="signal must be one of"):
        store.add_feedback("acme", a, "like")
