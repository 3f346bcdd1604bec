"""The web UI: server-rendered Jinja2 pages and small vanilla scripts, served by the API's own app.

`mount_ui(app)` adds `/login`, `/` (chat), `/admin`, `/admin/traces/{id}` and the static files under
`/ui-static/`. The pages use only the public JSON API (`/api/*`).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PREFIX = "/ui-static"


def mount_ui(app: FastAPI) -> None:
    from llmpilot.serving.ui.pages import router

    app.include_router(router)
    app.mount(STATIC_PREFIX, StaticFiles(directory=STATIC_DIR), name="ui-static")


__all__ = ["STATIC_PREFIX", "mount_ui"]
