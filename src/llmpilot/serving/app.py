"""The FastAPI app: JSON API (/api), OpenAI-compatible API (/v1), OpenAPI spec (/openapi.json, /docs)
and the web UI (serving/ui)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from llmpilot.serving import api, metrics_api, monitor_api, openai_api
from llmpilot.serving.deployment import Deployment
from llmpilot.serving.errors import install_error_handlers
from llmpilot.serving.limits import BodySizeLimit
from llmpilot.serving.state import Collection, ServerState, ServeSettings
from llmpilot.serving.telemetry import Telemetry
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
    follow_versions: bool = False,
) -> FastAPI:
    """`follow_versions`: each collection polls its store for promotions and experiments in a
    background thread (`llmpilot serve`); without it, requests look (at most every 2 s)."""
    settings = settings or ServeSettings()
    telemetry = Telemetry.for_app(collections, store)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        telemetry.close()  # send the spans still queued for the collector
        for deployment in state.deployments.values():
            deployment.close()

    app = FastAPI(title="llmpilot", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    state = ServerState(settings=settings, store=store, collections=list(collections), telemetry=telemetry)
    for collection in state.collections:
        # Each collection follows its project's config versions (promotions, experiments) while served.
        deployment = Deployment(collection)
        deployment.start(follow=follow_versions)
        state.deployments[(collection.tenant, collection.name)] = deployment
    app.state.llmpilot = state
    install_error_handlers(app)
    app.include_router(api.router)
    app.include_router(openai_api.router)
    app.include_router(metrics_api.router)
    app.include_router(monitor_api.router)
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
        from llmpilot.serving.ui import monitor_pages, mount_ui

        mount_ui(app)
        app.include_router(monitor_pages.router)
    return app
