"""What every `llmpilot serve` worker must see alike, kept in the store rather than in one process's
memory: sign-in sessions and per-key rate-limit windows. With it, several workers (processes on one
machine over SQLite, or hosts over PostgreSQL) behave as one server: a cookie made by one is valid on
all, a sign-out on one ends it on all, and a key has one request budget.

This module owns the `sessions` and `rate_windows` tables (migration m007_shared_serving_state).
Times come from the worker's clock: hosts sharing a PostgreSQL store need synchronized clocks (NTP).
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import Insert, case, delete, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from llmpilot.store import schema
from llmpilot.store.db import Store
from llmpilot.store.serving import hash_key


class SessionStore:
    """Opaque random session tokens -> key id, valid for `ttl_s`. The cookie never holds the key, and
    the store never holds the token: only its sha256, so a copy of the database signs nobody in."""

    def __init__(self, store: Store, ttl_s: float) -> None:
        self.engine = store.engine
        self.ttl_s = ttl_s

    def create(self, key_id: int) -> str:
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        s = schema.sessions
        with self.engine.begin() as conn:
            # Expired sessions are deleted here, lazily, so the table cannot grow without bound.
            conn.execute(delete(s).where(s.c.expires_at <= now))
            conn.execute(
                insert(s).values(
                    token_hash=hash_key(token),
                    key_id=key_id,
                    created_at=now,
                    expires_at=now + timedelta(seconds=self.ttl_s),
                )
            )
        return token

    def key_id(self, token: str) -> int | None:
        """The key the session was made from; None when unknown, signed out or expired."""
        s = schema.sessions
        with self.engine.connect() as conn:
            found = conn.execute(
                select(s.c.key_id).where(
                    s.c.token_hash == hash_key(token), s.c.expires_at > datetime.now(UTC)
                )
            ).scalar()
        return int(found) if found is not None else None

    def drop(self, token: str) -> None:
        s = schema.sessions
        with self.engine.begin() as conn:
            conn.execute(delete(s).where(s.c.token_hash == hash_key(token)))


class RateLimitStore:
    """At most `per_minute` requests per key in a window of `window_s` seconds that starts with the
    key's first request after its previous window ended (0 = no limit); refused requests are not
    counted. One upsert per request counts and decides at once, so concurrent workers can never let
    more than `per_minute` through in one window. At a window's end the budget is whole again: at
    worst 2 x per_minute requests fall within some 60 s (late in one window, early in the next)."""

    def __init__(self, store: Store, per_minute: int, window_s: float = 60.0) -> None:
        self.engine = store.engine
        self.per_minute = per_minute
        self.window_s = window_s

    def check(self, key_id: int) -> float | None:
        """None when allowed (and counted); else the seconds until the key's window ends."""
        if self.per_minute <= 0:
            return None
        now = time.time()
        w = schema.rate_windows
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # A count is worth less than a flush to disk on every request: a server crash loses at
                # most the last moments of counts (measured: ~3 ms less per request; SQLite's WAL
                # with synchronous=NORMAL does not sync on commit either).
                conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
            counted = conn.execute(self._count(key_id, now, conn.dialect.name)).first()
            if counted is not None:
                return None
            start = conn.execute(select(w.c.window_start).where(w.c.key_id == key_id)).scalar()
        # The window may have ended between the two statements: then the retry can be now.
        return max(0.0, float(start if start is not None else now) + self.window_s - now)

    def _count(self, key_id: int, now: float, dialect: str) -> Insert:
        """INSERT … ON CONFLICT DO UPDATE … WHERE … RETURNING: a row back means the request counted."""
        w = schema.rate_windows
        ended = w.c.window_start <= now - self.window_s
        make = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = make(w).values(key_id=key_id, window_start=now, hits=1)
        return stmt.on_conflict_do_update(
            index_elements=[w.c.key_id],
            set_={
                "window_start": case((ended, now), else_=w.c.window_start),
                "hits": case((ended, 1), else_=w.c.hits + 1),
            },
            # No row is updated (none returned) when the window is current and full.
            where=or_(ended, w.c.hits < self.per_minute),
        ).returning(w.c.hits)
