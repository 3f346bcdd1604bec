"""The monitoring API for a tenant's admins: the dashboard's numbers, alerts, and the review queue
that turns feedback and abstained questions into eval items (approve / reject)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Path, Query

from llmpilot.errors import LlmpilotError
from llmpilot.monitoring.dashboard import dashboard_data, open_alerts
from llmpilot.monitoring.store import MonitorStore
from llmpilot.serving.auth import Principal
from llmpilot.serving.deps import ERRORS, admin, get_state
from llmpilot.serving.errors import ApiError
from llmpilot.serving.monitor_schemas import (
    AlertItem,
    AlertList,
    ApproveRequest,
    MonitorSummary,
    ReviewDecision,
    ReviewList,
    ReviewStatus,
)
from llmpilot.serving.state import ServerState

router = APIRouter()

MAX_HOURS = 24 * 366
MAX_BUCKETS = 500
#: Row ids are INTEGER columns (32-bit on PostgreSQL): larger numbers cannot name a row.
MAX_ID = 2**31 - 1
REVIEW_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    409: {"model": ERRORS[404]["model"], "description": "The review item was already decided"},
    503: {"model": ERRORS[404]["model"], "description": "The review queue is not available on this server"},
}
ACK_ERRORS: dict[int | str, dict[str, Any]] = dict(ERRORS)


def _monitor(state: ServerState) -> MonitorStore:
    return MonitorStore(state.store.store)


def _collection_names(state: ServerState, tenant: str) -> list[str]:
    return [c.name for c in state.collections_for(tenant)]


# --- dashboard ---------------------------------------------------------------------------------


@router.get("/api/monitor/summary", response_model=MonitorSummary, responses=ERRORS, tags=["monitoring"])
def monitor_summary(
    hours: float = Query(24 * 7, gt=0, le=MAX_HOURS, description="How far back to look"),
    buckets: int = Query(24, ge=1, le=MAX_BUCKETS, description="Equal time buckets in the window"),
    who: Principal = Depends(admin),
    state: ServerState = Depends(get_state),
) -> dict[str, Any]:
    """Volume, abstain / cache / guard rates, latency percentiles per stage, feedback rate and
    sentiment per time bucket; quality of the scheduled re-evaluations; open alerts; live config."""
    return dashboard_data(
        state.store.store,
        who.tenant,
        hours=hours,
        buckets=buckets,
        collections=_collection_names(state, who.tenant),
    )


# --- alerts ------------------------------------------------------------------------------------


@router.get("/api/alerts", response_model=AlertList, responses=ERRORS, tags=["monitoring"])
def list_alerts(
    include_acknowledged: bool = Query(False, description="Also list acknowledged alerts"),
    who: Principal = Depends(admin),
    state: ServerState = Depends(get_state),
) -> dict[str, Any]:
    names = _collection_names(state, who.tenant)
    return {"items": open_alerts(_monitor(state), names, include_acknowledged=include_acknowledged)}


@router.post(
    "/api/alerts/{alert_id}/ack", response_model=AlertItem, responses=ACK_ERRORS, tags=["monitoring"]
)
def acknowledge_alert(
    alert_id: int = Path(ge=1, le=MAX_ID),
    who: Principal = Depends(admin),
    state: ServerState = Depends(get_state),
) -> dict[str, Any]:
    """Mark one of the tenant's alerts as seen (acknowledging it again changes nothing)."""
    monitor = _monitor(state)
    names = _collection_names(state, who.tenant)
    mine = {a["id"]: a for a in open_alerts(monitor, names, include_acknowledged=True)}
    if alert_id not in mine:
        raise ApiError(404, f"no alert {alert_id}", "alert_not_found")
    monitor.acknowledge_alert(alert_id)
    updated = {a["id"]: a for a in open_alerts(monitor, names, include_acknowledged=True)}
    return updated.get(alert_id, mine[alert_id])


# --- review queue ------------------------------------------------------------------------------


@router.get("/api/review", response_model=ReviewList, responses=ERRORS, tags=["monitoring"])
def list_review_items(
    status: ReviewStatus = Query("pending"),
    limit: int = Query(200, ge=1, le=1000),
    who: Principal = Depends(admin),
    state: ServerState = Depends(get_state),
) -> dict[str, Any]:
    """Candidate eval items from feedback (corrections, thumbs-down, low ratings) and abstentions."""
    return {"items": _monitor(state).review_items(status=status, tenant=who.tenant, limit=limit)}


def _pending_item(state: ServerState, tenant: str, item_id: int) -> dict[str, Any]:
    item = _monitor(state).review_item(item_id)
    if item is None or item["tenant"] != tenant:
        raise ApiError(404, f"no review item {item_id}", "review_item_not_found")
    if item["status"] != "pending":
        raise ApiError(409, f"review item {item_id} is already {item['status']}", "review_item_decided")
    return item


def _reviewer(state: ServerState, who: Principal) -> str:
    key = state.store.key_by_id(who.key_id)
    return key.name if key is not None else f"key-{who.key_id}"


def _review_module() -> Any:
    try:
        from llmpilot.monitoring import review
    except ImportError:
        raise ApiError(
            503, "the review queue is not available on this server", "review_unavailable"
        ) from None
    return review


def _review_error(review: Any, exc: LlmpilotError) -> ApiError:
    """The library's refusal as an API error: gone (404), decided meanwhile (409), or an answer /
    document the eval item cannot have (422)."""
    if isinstance(exc, getattr(review, "ReviewItemNotFound", ())):
        return ApiError(404, str(exc), "review_item_not_found")
    if isinstance(exc, getattr(review, "ReviewItemDecided", ())):
        return ApiError(409, str(exc), "review_item_decided")
    return ApiError(422, str(exc), "review_item_invalid")


def _decided(state: ServerState, item_id: int, eval_item: dict[str, Any] | None) -> dict[str, Any]:
    item = _monitor(state).review_item(item_id)
    assert item is not None
    return {"item": item, "eval_item": eval_item}


@router.post(
    "/api/review/{item_id}/approve",
    response_model=ReviewDecision,
    responses=REVIEW_ERRORS,
    tags=["monitoring"],
)
def approve_review_item(
    item_id: int = Path(ge=1, le=MAX_ID),
    body: ApproveRequest | None = Body(None),
    who: Principal = Depends(admin),
    state: ServerState = Depends(get_state),
) -> dict[str, Any]:
    """Add the item to the project's eval set (with its trace id and reviewer as provenance);
    `answer` and `doc_ids` replace the proposed reference answer and source documents."""
    item = _pending_item(state, who.tenant, item_id)
    project = state.collection(who.tenant, item["collection"]).pipeline.project
    review = _review_module()
    try:
        eval_item = review.approve(
            project,
            item_id,
            reviewer=_reviewer(state, who),
            answer=body.answer if body is not None else None,
            doc_ids=body.doc_ids if body is not None else None,
        )
    except LlmpilotError as exc:
        raise _review_error(review, exc) from None
    return _decided(state, item_id, eval_item)


@router.post(
    "/api/review/{item_id}/reject",
    response_model=ReviewDecision,
    responses=REVIEW_ERRORS,
    tags=["monitoring"],
)
def reject_review_item(
    item_id: int = Path(ge=1, le=MAX_ID),
    who: Principal = Depends(admin),
    state: ServerState = Depends(get_state),
) -> dict[str, Any]:
    item = _pending_item(state, who.tenant, item_id)
    project = state.collection(who.tenant, item["collection"]).pipeline.project
    review = _review_module()
    try:
        review.reject(project, item_id, reviewer=_reviewer(state, who))
    except LlmpilotError as exc:
        raise _review_error(review, exc) from None
    return _decided(state, item_id, None)
