"""The pages read data through the app's own HTTP API, in process.

Server-rendered pages need the session and the admin lists. Calling the JSON API through the
same ASGI app (with the browser's cookie or bearer header passed on) keeps the UI on the public
contract only: auth, tenant scoping, roles and rate limits stay where the API enforces them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx
from fastapi import Request
from pydantic import BaseModel, ValidationError

from llmpilot.serving.schemas import ErrorResponse, SessionInfo

M = TypeVar("M", bound=BaseModel)

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
class ApiResult(Generic[M]):
    """An API answer read through the API's own response schema: `data` is the validated model
    when the call succeeded, else None and `error_message` says why."""

    status: int
    data: M | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300 and self.data is not None

    @property
    def error_message(self) -> str:
        return self.error or f"HTTP {self.status}"


def _api_error(status: int, body: Any) -> str:
    """The API's OpenAI-style error message, or the HTTP status when the body has none."""
    try:
        return ErrorResponse.model_validate(body).error.message
    except ValidationError:
        return f"HTTP {status}"


class InternalApi:
    """GET requests to the app's own JSON API on behalf of the browser that asked for a page; each
    answer is validated with the response model the API itself declares (serving/schemas.py)."""

    def __init__(self, request: Request) -> None:
        self._app = request.app
        self._base_url = str(request.base_url)
        self._headers = {name: value for name in FORWARDED_HEADERS if (value := request.headers.get(name))}

    async def get(
        self, path: str, model: type[M], params: dict[str, str | int] | None = None
    ) -> ApiResult[M]:
        transport = httpx.ASGITransport(app=self._app)
        async with httpx.AsyncClient(
            transport=transport, base_url=self._base_url, headers=self._headers, timeout=INTERNAL_TIMEOUT_S
        ) as client:
            response = await client.get(path, params=params)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not 200 <= response.status_code < 300:
            return ApiResult(response.status_code, None, _api_error(response.status_code, body))
        try:
            return ApiResult(response.status_code, model.model_validate(body))
        except ValidationError as exc:
            return ApiResult(
                response.status_code, None, f"unexpected answer from {path}: {exc.error_count()} error(s)"
            )

    async def session(self) -> Session | None:
        """The caller's tenant and role, or None when not signed in (any non-200 answer)."""
        result = await self.get("/api/session", SessionInfo)
        if result.data is None:
            return None
        return Session(tenant=result.data.tenant, role=result.data.role)
