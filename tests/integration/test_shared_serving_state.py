"""Sessions and rate limits live in the store: two apps over one store (two Store objects of one URL,
as two `serve` workers have) share them, on SQLite and on PostgreSQL.

In process (ASGI) and without models: a real project whose store is a SQLite file or a PostgreSQL
database, and a fake generator (nothing here answers a question).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from llmpilot.config import parse_config
from llmpilot.project import Project
from llmpilot.serving.auth import SESSION_COOKIE
from llmpilot.serving.state import ServeSettings
from llmpilot.store import schema
from llmpilot.store.db import Store
from llmpilot.store.serving import ServingStore
from llmpilot.store.shared_state import RateLimitStore, SessionStore
from tests.fixtures.serving import make_app


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def projects(store_url: str, tmp_path: Path) -> Iterator[tuple[Project, Project]]:
    """Two Project objects (two stores, two engines) over the same database."""
    cfg = parse_config({"store": store_url, "retrieval": {"mode": "keyword"}})
    a = Project.from_config(tmp_path / "a", cfg)
    b = Project.from_config(tmp_path / "b", cfg)
    yield a, b
    a.close()
    b.close()


def two_clients(projects: tuple[Project, Project], settings: ServeSettings) -> tuple[TestClient, TestClient]:
    a, b = projects
    return TestClient(make_app(a, settings=settings)), TestClient(make_app(b, settings=settings))


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_a_session_made_on_one_app_works_on_the_other_until_signed_out(
    projects: tuple[Project, Project],
) -> None:
    _, key = ServingStore(projects[0].store).create_key("acme", "admin")
    client_a, client_b = two_clients(projects, ServeSettings(rate_limit_per_min=0))
    with client_a as a, client_b as b:
        signed_in = a.post("/api/session", json={"key": key})
        assert signed_in.status_code == 200
        cookie = signed_in.cookies[SESSION_COOKIE]
        b.cookies.set(SESSION_COOKIE, cookie)
        assert b.get("/api/session").json() == {"tenant": "acme", "role": "admin"}
        assert b.get("/v1/models").status_code == 200
        # The store holds the token's hash, never the token the cookie carries.
        with projects[0].store.engine.connect() as conn:
            stored = conn.execute(select(schema.sessions.c.token_hash)).scalars().all()
        assert len(stored) == 1 and stored[0] != cookie and len(stored[0]) == 64

        assert b.delete("/api/session").status_code == 204  # sign out on B …
        refused = a.get("/v1/models")  # … and A's cookie jar still holds the cookie: refused
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_session"


def test_one_rate_limit_budget_across_both_apps(projects: tuple[Project, Project]) -> None:
    _, key = ServingStore(projects[0].store).create_key("acme", "user")
    _, other = ServingStore(projects[0].store).create_key("acme", "user")
    client_a, client_b = two_clients(projects, ServeSettings(rate_limit_per_min=5))
    with client_a as a, client_b as b:
        codes = [a.get("/v1/models", headers=bearer(key)).status_code for _ in range(3)]
        codes += [b.get("/v1/models", headers=bearer(key)).status_code for _ in range(2)]
        assert codes == [200] * 5
        limited = b.get("/v1/models", headers=bearer(key))  # the 6th request, 3 on each app
        assert limited.status_code == 429
        error = limited.json()["error"]
        assert error["code"] == "rate_limit_exceeded" and "5 requests per minute" in error["message"]
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert a.get("/v1/models", headers=bearer(key)).status_code == 429  # refused on A too
        assert a.get("/v1/models", headers=bearer(other)).status_code == 200  # another key's budget


def test_a_session_expires_and_expired_rows_are_deleted(store_url: str) -> None:
    store = Store.open(store_url)
    try:
        key_id = ServingStore(store).create_key("acme")[0].id
        sessions = SessionStore(store, ttl_s=0.3)
        old = sessions.create(key_id)
        assert sessions.key_id(old) == key_id and sessions.key_id("forged") is None
        time.sleep(0.4)
        assert sessions.key_id(old) is None  # expired
        new = sessions.create(key_id)  # … and deleted when the next session is made
        with store.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(schema.sessions)).scalar() == 1
        assert sessions.key_id(new) == key_id
        sessions.drop(new)
        assert sessions.key_id(new) is None
    finally:
        store.close()


def test_the_window_refills_when_it_ends(store_url: str) -> None:
    store = Store.open(store_url)
    try:
        key_id = ServingStore(store).create_key("acme")[0].id
        limiter = RateLimitStore(store, per_minute=2, window_s=0.5)
        assert limiter.check(key_id) is None and limiter.check(key_id) is None
        wait = limiter.check(key_id)
        assert wait is not None and 0.0 < wait <= 0.5
        time.sleep(wait + 0.05)
        assert limiter.check(key_id) is None  # a new window: the whole budget again
        assert RateLimitStore(store, per_minute=0).check(key_id) is None  # 0 = no limit
    finally:
        store.close()


def test_concurrent_checks_from_two_stores_never_exceed_the_budget(store_url: str) -> None:
    """64 requests of one key at once through two Store objects (two workers): exactly 20 pass."""
    stores = [Store.open(store_url), Store.open(store_url)]
    try:
        key_id = ServingStore(stores[0]).create_key("acme")[0].id
        limiters = [RateLimitStore(s, per_minute=20) for s in stores]
        results: list[float | None] = []
        lock = threading.Lock()
        start = threading.Barrier(16)

        def worker(i: int) -> None:
            start.wait()
            for _ in range(4):
                outcome = limiters[i % 2].check(key_id)
                with lock:
                    results.append(outcome)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(results) == 64
        assert sum(r is None for r in results) == 20
        with stores[0].engine.connect() as conn:
            row: Any = conn.execute(select(schema.rate_windows)).one()
        assert (row.key_id, row.hits) == (key_id, 20)
    finally:
        for s in stores:
            s.close()
