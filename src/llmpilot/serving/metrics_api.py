"""GET /metrics: the Prometheus text format of the app's metrics (llmpilot.monitoring.metrics).

Scraped with an admin key of the operator's tenant (the first collection's tenant: the metrics
cover every tenant's collections) sent as `Authorization: Bearer <key>` — Prometheus'
`authorization: {credentials_file: ...}` — or without a key when served with `--metrics-public`.
Not in the OpenAPI schema: it is for Prometheus, not for API clients.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from llmpilot.serving.deps import get_state, principal
from llmpilot.serving.errors import ApiError
from llmpilot.serving.state import ServerState

router = APIRouter()


def check_scraper(request: Request, state: ServerState) -> None:
    """401 without a valid key, 403 for a non-admin or another tenant's admin."""
    who = principal(request)
    operator = state.collections[0].tenant if state.collections else who.tenant
    if not who.is_admin or who.tenant != operator:
        raise ApiError(
            403,
            f"/metrics needs an admin key of tenant {operator!r} (or `serve --metrics-public`)",
            "admin_required",
        )


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    state = get_state(request)
    if not state.settings.metrics_public:
        check_scraper(request, state)
    if state.telemetry is None:
        raise ApiError(404, "metrics are not collected by this server", "metrics_disabled")
    metrics = state.telemetry.metrics
    for collection in state.collections:  # the version served now (a promotion swaps it while serving)
        if collection.config_version is not None:
            metrics.set_config_version(collection.name, collection.config_version)
    body, content_type = metrics.render()
    return Response(content=body, media_type=content_type)
