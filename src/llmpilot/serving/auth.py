"""Who is calling: API keys (Bearer header) or a session cookie made from one, per-key rate limits,
and role checks. Keys are looked up by hash on every request, so a revoked key stops working at once
(even when revoked from the CLI while the server runs)."""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass

from fastapi import Request

from llmpilot.serving.errors import ApiError
from llmpilot.store.serving import ApiKey, ServingStore

SESSION_COOKIE = "llmpilot_session"


@dataclass(frozen=True)
class Principal:
    key_id: int
    tenant: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class SessionManager:
    """Opaque random session tokens -> key id, in memory (one server process; a restart logs users out).
    The cookie never holds the key itself."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._sessions: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def create(self, key_id: int) -> str:
        token = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            # Drop expired sessions so the table cannot grow without bound.
            self._sessions = {t: v for t, v in self._sessions.items() if v[1] > now}
            self._sessions[token] = (key_id, now + self.ttl_s)
        return token

    def key_id(self, token: str) -> int | None:
        with self._lock:
            found = self._sessions.get(token)
        if found is None or found[1] <= time.monotonic():
            return None
        return found[0]

    def drop(self, token: str) -> None:
        with self._lock:
            self._sessions.pop(token, None)


class RateLimiter:
    """At most `per_minute` requests per key in any sliding 60 s window (0 = no limit)."""

    def __init__(self, per_minute: int, window_s: float = 60.0) -> None:
        self.per_minute = per_minute
        self.window_s = window_s
        self._hits: dict[int, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, key_id: int) -> float | None:
        """None when allowed (and counted); else the seconds until the next request is allowed."""
        if self.per_minute <= 0:
            return None
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(key_id, deque())
            while hits and hits[0] <= now - self.window_s:
                hits.popleft()
            if len(hits) >= self.per_minute:
                return max(0.0, hits[0] + self.window_s - now)
            hits.append(now)
            return None


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def _unauthorized(message: str, code: str) -> ApiError:
    return ApiError(401, message, code, headers={"WWW-Authenticate": "Bearer"})


def identify(request: Request, store: ServingStore, sessions: SessionManager) -> ApiKey:
    """The caller's key record, from the Bearer header (preferred) or the session cookie."""
    token = bearer_token(request)
    key: ApiKey | None
    if token is not None:
        key = store.key_for_secret(token)
        if key is None:
            raise _unauthorized("invalid API key", "invalid_api_key")
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            raise _unauthorized(
                "missing API key: send `Authorization: Bearer <key>` "
                "(create one with `llmpilot keys create`)",
                "missing_api_key",
            )
        key_id = sessions.key_id(cookie)
        key = store.key_by_id(key_id) if key_id is not None else None
        if key is None:
            raise _unauthorized("session expired or unknown; sign in again", "invalid_session")
    if key.revoked:
        raise _unauthorized("this API key has been revoked", "key_revoked")
    return key


def check_rate(limiter: RateLimiter, key: ApiKey) -> None:
    wait = limiter.check(key.id)
    if wait is not None:
        raise ApiError(
            429,
            f"rate limit of {limiter.per_minute} requests per minute exceeded for this key; "
            f"retry in {wait:.0f} s",
            "rate_limit_exceeded",
            headers={"Retry-After": str(max(1, int(wait + 0.999)))},
        )
