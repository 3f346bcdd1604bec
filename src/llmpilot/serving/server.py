"""Build the app from project folders and run it under uvicorn (what `llmpilot serve` calls)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llmpilot.errors import LlmpilotError
from llmpilot.pipeline import Pipeline
from llmpilot.project import Project
from llmpilot.serving.app import create_app
from llmpilot.serving.state import DEFAULT_TENANT, Collection, ServeSettings
from llmpilot.store.serving import ServingStore

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class CollectionSpec:
    """A project (folder or config file) served as collection `name` of `tenant`."""

    location: Path
    tenant: str = DEFAULT_TENANT
    name: str | None = None
    #: `--set KEY=VALUE` items applied over the project's config (Project.open).
    overrides: tuple[str, ...] = ()


def parse_rate(value: str) -> int:
    """'60/min' or '60' -> 60 requests per minute; '0' turns the limit off."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:/\s*(?:m|min|minute))?\s*", value)
    if not match:
        raise LlmpilotError(f"--rate-limit: expected N/min (e.g. 60/min, 0 = off), got {value!r}")
    return int(match.group(1))


def parse_mount(value: str) -> CollectionSpec:
    """'TENANT/NAME=PATH' (or 'NAME=PATH' for the default tenant) -> CollectionSpec."""
    target, sep, path = value.partition("=")
    if not sep or not path:
        raise LlmpilotError(f"--collection: expected TENANT/NAME=PROJECT_PATH, got {value!r}")
    tenant, _, name = target.rpartition("/")
    return CollectionSpec(Path(path), tenant or DEFAULT_TENANT, name)


def open_collection(spec: CollectionSpec) -> Collection:
    project = Project.open(spec.location, spec.overrides)
    name = spec.name or project.root.name
    if not _NAME.match(name):
        raise LlmpilotError(
            f"collection name {name!r}: use letters, digits, '.', '_' or '-' (set it with --name)"
        )
    return Collection(name, spec.tenant, Pipeline(project))


#: The response header naming the server process that answered (`serve --workers N` runs N).
WORKER_HEADER = "X-Llmpilot-Worker"


class WorkerHeader:
    """Adds `X-Llmpilot-Worker: <pid>` to every response, so a client or a load balancer's log can
    tell which worker answered (an error to investigate, how evenly the load spreads)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.header = (WORKER_HEADER.lower().encode(), str(os.getpid()).encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), self.header]}
            await send(message)

        await self.app(scope, receive, send_with_header)


def build_app(
    specs: Sequence[CollectionSpec],
    settings: ServeSettings,
    *,
    warm: bool = True,
    ui: bool = True,
) -> FastAPI:
    """The first spec's project store holds the API keys, traces and feedback."""
    if not specs:
        raise LlmpilotError("nothing to serve: give a project with -p")
    collections = [open_collection(spec) for spec in specs]
    for collection in collections:
        try:
            collection.check()
        except LlmpilotError as exc:
            where = collection.pipeline.project.root
            raise LlmpilotError(f"cannot serve {collection.name!r} ({where}): {exc}") from None
    if warm:
        for collection in collections:
            collection.warm()
    store = ServingStore(collections[0].pipeline.project.store)
    app = create_app(collections, store, settings, ui=ui, follow_versions=True)
    app.add_middleware(WorkerHeader)
    return app


def run(app: FastAPI, host: str, port: int, log_level: str = "info") -> None:
    import uvicorn

    # One process (`--workers N`: serving/workers.py), with the models loaded once, in this process.
    # A bounded graceful shutdown: SIGTERM waits up to 5 s for answers in flight, then cancels them
    # (GuardedStream releases the model), so a stuck client cannot keep the server alive.
    uvicorn.run(app, host=host, port=port, log_level=log_level, workers=1, timeout_graceful_shutdown=5)
