"""The pages read data through the app's own HTTP API, in process.

Server-rendered pages need the session and the admin lists. Calling the JSON API through the
same ASGI app (with the browser's cookie or bearer header passed on) keeps the UI on the public
contract only: auth, tenant scoping, roles and rate limits stay where the API enforces them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import Request

# What the browser sent that identifies the caller; nothing else is passed on.
FORWARDED_HEADERS = ("cookie", "authorization", "accept-language")
INTERNAL_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Session:
    tenant: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class ApiResult:
    status: int
    data: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def error_message(self) -> str:
        """The API's OpenAI-style error message, or the HTTP status when the body has none."""
        if isinstance(self.data, dict):
            error = self.data.get("error")
            if isinstance(error, dict) and isinstance(error.get("message"), str):
                return error["message"]
        return f"HTTP {self.status}"


class InternalApi:
    """GET requests to the app's own JSON API on behalf of the browser that asked for a page."""

    def __init__(self, request: Request) -> None:
        self._app = request.app
        self._base_url = str(request.base_url)
        self._headers = {name: value for name in FORWARDED_HEADERS if (value := request.headers.get(name))}

    async def get(self, path: str, params: dict[str, str | int] | None = None) -> ApiResult:
        transport = httpx.ASGITransport(app=self._app)
        async with httpx.AsyncClient(
            transport=transport, base_url=self._base_url, headers=self._headers, timeout=INTERNAL_TIMEOUT_S
        ) as client:
            response = await client.get(path, params=params)
        try:
            data = response.json()
        except ValueError:
            data = None
        return ApiResult(response.status_code, data)

    async def session(self) -> Session | None:
        """The caller's tenant and role, or None when not signed in (any non-200 answer)."""
        result = await self.get("/api/session")
        if not result.ok or not isinstance(result.data, dict):
            return None
        tenant, role = result.data.get("tenant"), result.data.get("role")
        if not isinstance(tenant, str) or not isinstance(role, str):
            return None
        return Session(tenant=tenant, role=role)
