"""The FastAPI app: JSON API (/api), OpenAI-compatible API (/v1), OpenAPI spec (/openapi.json, /docs)
and the web UI (serving/ui)."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from llmpilot.serving import api, openai_api
from llmpilot.serving.errors import install_error_handlers
from llmpilot.serving.limits import BodySizeLimit
from llmpilot.serving.state import Collection, ServerState, ServeSettings
from llmpilot.store.serving import ServingStore

DESCRIPTION = """\
Answers from your documents with verified citations, abstention on weak support and feedback.

Authenticate with `Authorization: Bearer <key>` (keys: `llmpilot keys create --tenant T`), or with
the session cookie set by `POST /api/session`. `/v1/*` follows OpenAI's chat API: a collection is a model.
"""


def create_app(
    collections: Sequence[Collection],
    store: ServingStore,
    settings: ServeSettings | None = None,
    *,
    ui: bool = True,
) -> FastAPI:
    settings = settings or ServeSettings()
    app = FastAPI(title="llmpilot", version="0.1.0", description=DESCRIPTION)
    app.state.llmpilot = ServerState(settings=settings, store=store, collections=list(collections))
    install_error_handlers(app)
    app.include_router(api.router)
    app.include_router(openai_api.router)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        # No credentials over CORS: browsers on other origins use Bearer keys; the cookie is same-site only.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
            allow_credentials=False,
            max_age=600,
        )
    if ui:
        from llmpilot.serving.ui import mount_ui

        mount_ui(app)
    return app
