"""Who is calling: API keys (Bearer header) or a session cookie made from one, per-key rate limits,
and role checks. Keys are looked up by hash on every request, so a revoked key stops working at once
(even when revoked from the CLI while the server runs). Sessions and rate limits live in the store
(llmpilot.store.shared_state), so every worker of a server sees the same ones."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from llmpilot.serving.errors import ApiError
from llmpilot.store.serving import ApiKey, ServingStore
from llmpilot.store.shared_state import RateLimitStore, SessionStore

SESSION_COOKIE = "llmpilot_session"


@dataclass(frozen=True)
class Principal:
    key_id: int
    tenant: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def _unauthorized(message: str, code: str) -> ApiError:
    return ApiError(401, message, code, headers={"WWW-Authenticate": "Bearer"})


def identify(request: Request, store: ServingStore, sessions: SessionStore) -> ApiKey:
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


def check_rate(limiter: RateLimitStore, key: ApiKey) -> None:
    wait = limiter.check(key.id)
    if wait is not None:
        raise ApiError(
            429,
            f"rate limit of {limiter.per_minute} requests per minute exceeded for this key; "
            f"retry in {wait:.0f} s",
            "rate_limit_exceeded",
            headers={"Retry-After": str(max(1, int(wait + 0.999)))},
        )
