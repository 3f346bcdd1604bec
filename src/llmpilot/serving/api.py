"""The llmpilot JSON API under /api (the contract the web UI relies on)."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse

from llmpilot.serving.auth import SESSION_COOKIE, Principal, identify
from llmpilot.serving.deps import (
    ERRORS,
    admin,
    ask_payload,
    citation_json,
    get_state,
    principal,
    save_trace,
    sse,
)
from llmpilot.serving.errors import ApiError, error_body
from llmpilot.serving.schemas import (
    AskRequest,
    AskResponse,
    FeedbackCreated,
    FeedbackList,
    FeedbackRequest,
    Health,
    HistoryTurn,
    ReportList,
    SessionInfo,
    SessionRequest,
    Signal,
    TraceDetail,
    TraceList,
)
from llmpilot.serving.state import ServerState
from llmpilot.serving.streaming import EventFormat, GuardedStream, answer_events

router = APIRouter()
log = logging.getLogger("llmpilot.serving")

ASK_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The answer; with `stream: true` a text/event-stream of `meta`, `delta`*, `done` "
        "(or `error`) events",
        "content": {
            "text/event-stream": {
                "schema": {
                    "type": "object",
                    "description": "One server-sent event; `data` is JSON (see the serving contract)",
                    "properties": {
                        "event": {"type": "string", "enum": ["meta", "delta", "done", "error"]},
                        "data": {"type": "string"},
                    },
                    "required": ["event", "data"],
                }
            }
        },
    },
    **ERRORS,
}


@router.get("/api/health", response_model=Health, tags=["service"])
def health() -> dict[str, str]:
    return {"status": "ok"}


# --- sessions (cookie sign-in for the browser) -------------------------------------------------


@router.post("/api/session", response_model=SessionInfo, responses=ERRORS, tags=["auth"])
def create_session(body: SessionRequest, response: Response, request: Request) -> dict[str, str]:
    """Exchange an API key for an HttpOnly session cookie (the key itself is never stored in it)."""
    state = get_state(request)
    key = state.store.key_for_secret(body.key)
    if key is None or key.revoked:
        raise ApiError(401, "invalid or revoked API key", "invalid_api_key")
    token = state.sessions.create(key.id)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(state.settings.session_ttl_s),
        httponly=True,
        samesite="strict",
        secure=state.settings.secure_cookie,
        path="/",
    )
    return {"tenant": key.tenant, "role": key.role}


@router.get("/api/session", response_model=SessionInfo, responses=ERRORS, tags=["auth"])
def read_session(request: Request) -> dict[str, str]:
    state = get_state(request)
    key = identify(request, state.store, state.sessions)
    return {"tenant": key.tenant, "role": key.role}


@router.delete("/api/session", status_code=204, responses=ERRORS, tags=["auth"])
def delete_session(request: Request) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        get_state(request).sessions.drop(token)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


# --- answers -----------------------------------------------------------------------------------


@router.post("/api/ask", response_model=AskResponse, responses=ASK_RESPONSES, tags=["answers"])
def ask(
    body: AskRequest,
    who: Principal = Depends(principal),
    state: ServerState = Depends(get_state),
) -> Any:
    """Answer with verified citations, a confidence, abstention on weak support and follow-ups.
    `generate: false` is the retrieval-only path (sources, no generator call)."""
    collection = state.serving_collection(who.tenant, body.collection, str(who.key_id))
    conversation = [*body.history, HistoryTurn(role="user", content=body.question)]
    search_query, _method = collection.condense(conversation)
    run = collection.start(
        body.question,
        k=body.top_k,
        lang=body.lang,
        generate=body.generate,
        search_query=search_query,
        use_cache=not body.fresh,
    )
    trace_id = str(uuid.uuid4())
    if body.stream:
        return GuardedStream(
            answer_events(state, collection, run, trace_id, "api/ask", ask_format(trace_id)), run
        )
    answer = run.finish()
    save_trace(state, collection, trace_id, answer, "api/ask")
    return ask_payload(answer, trace_id)


def ask_format(trace_id: str) -> EventFormat:
    return EventFormat(
        start=lambda run: sse(
            "meta", {"trace_id": trace_id, "sources": [citation_json(s) for s in run.sources]}
        ),
        delta=lambda text: sse("delta", {"text": text}),
        done=lambda answer, _streamed: [sse("done", ask_payload(answer, trace_id))],
        error=lambda: sse(
            "error",
            error_body(500, "the answer failed while streaming (logged on the server)", "stream_failed"),
        ),
    )


# --- feedback and traces -----------------------------------------------------------------------


@router.post(
    "/api/feedback", status_code=201, response_model=FeedbackCreated, responses=ERRORS, tags=["feedback"]
)
def post_feedback(
    body: FeedbackRequest,
    who: Principal = Depends(principal),
    state: ServerState = Depends(get_state),
) -> dict[str, Any]:
    """Explicit (thumbs, rating, comment, correction) or implicit (copied, regenerated, followup,
    abandoned) feedback on one of the caller's answers."""
    if body.signal == "rating" and body.rating is None:
        raise ApiError(422, "signal 'rating' needs `rating` (1-5)", "invalid_request")
    if body.signal == "correction" and not (body.correction or "").strip():
        raise ApiError(422, "signal 'correction' needs a non-empty `correction`", "invalid_request")
    if body.signal == "comment" and not (body.comment or "").strip():
        raise ApiError(422, "signal 'comment' needs a non-empty `comment`", "invalid_request")
    feedback_id = state.store.add_feedback(
        who.tenant,
        body.trace_id,
        body.signal,
        rating=body.rating,
        comment=body.comment,
        correction=body.correction,
    )
    if feedback_id is None:
        raise ApiError(404, f"no trace {body.trace_id!r}", "trace_not_found")
    # Read once: the metrics, the cache and the review queue all need the trace's collection.
    trace = state.store.trace(who.tenant, body.trace_id)
    if trace is None:  # deleted between the two statements
        raise ApiError(404, f"no trace {body.trace_id!r}", "trace_not_found")
    if state.telemetry is not None:
        state.telemetry.record_feedback(str(trace["collection"]), body.signal)
    if body.signal in ("thumbs_down", "correction"):
        forget_cached_answer(state, who.tenant, trace)
    queue_for_review(state, who.tenant, body, trace)
    return {"id": feedback_id, "trace_id": body.trace_id, "signal": body.signal}


def queue_for_review(state: ServerState, tenant: str, body: FeedbackRequest, trace: dict[str, Any]) -> None:
    """A correction, a thumbs-down or a low rating puts the answer in the review queue, with the
    stored documents the correction points to proposed as its source (llmpilot.monitoring.review)."""
    from llmpilot.monitoring.review import add_from_feedback, document_search

    served = next((c for c in state.collections_for(tenant) if c.name == trace.get("collection")), None)
    try:
        add_from_feedback(
            state.store.store,
            tenant=tenant,
            trace_id=body.trace_id,
            signal=body.signal,
            rating=body.rating,
            correction=body.correction,
            search=document_search(served.pipeline) if served is not None else None,
        )
    except Exception:  # the feedback is stored; a failed queueing must not fail the request
        log.exception("could not queue trace %s for review", body.trace_id)


def forget_cached_answer(state: ServerState, tenant: str, trace: dict[str, Any]) -> None:
    """A user said the answer is wrong: the cached entry it came from (or was stored as) is not
    served to anyone again."""
    entries = [
        str(d["details"]["entry"])
        for d in trace.get("details", {}).get("decisions", [])
        if d.get("stage") == "cache" and isinstance(d.get("details"), dict) and d["details"].get("entry")
    ]
    for collection in state.collections_for(tenant):
        if collection.name == trace.get("collection") and entries:
            collection.responder.forget(entries)


@router.get("/api/feedback", response_model=FeedbackList, responses=ERRORS, tags=["admin"])
def list_feedback(
    limit: int = Query(50, ge=1, le=1000),
    signal: Signal | None = None,
    who: Principal = Depends(admin),
    state: ServerState = Depends(get_state),
) -> dict[str, Any]:
    return {"items": state.store.feedback(who.tenant, limit=limit, signal=signal)}


@router.get("/api/traces", response_model=TraceList, responses=ERRORS, tags=["admin"])
def list_traces(
    limit: int = Query(50, ge=1, le=1000),
    who: Principal = Depends(admin),
    state: ServerState = Depends(get_state),
) -> dict[str, Any]:
    return {"items": state.store.traces(who.tenant, limit=limit)}


@router.get("/api/traces/{trace_id}", response_model=TraceDetail, responses=ERRORS, tags=["admin"])
def get_trace(
    trace_id: str, who: Principal = Depends(admin), state: ServerState = Depends(get_state)
) -> dict[str, Any]:
    trace = state.store.trace(who.tenant, trace_id)
    if trace is None:
        raise ApiError(404, f"no trace {trace_id!r}", "trace_not_found")
    return trace


# --- evaluation / optimization reports ---------------------------------------------------------


def report_files(state: ServerState, tenant: str) -> dict[str, Path]:
    """name -> file for the .html reports the tenant's admins may open."""
    roots: list[tuple[str, Path]] = [(c.name, c.reports_dir) for c in state.collections_for(tenant)]
    if state.collections and state.collections[0].tenant == tenant:
        roots += [(d.name or "reports", d) for d in state.settings.reports_dirs]
    found: dict[str, Path] = {}
    for prefix, root in roots:
        if root.is_dir():
            for path in sorted(root.rglob("*.html")):
                found[f"{prefix}/{path.relative_to(root).as_posix()}"] = path
    return found


@router.get("/api/reports", response_model=ReportList, responses=ERRORS, tags=["admin"])
def list_reports(who: Principal = Depends(admin), state: ServerState = Depends(get_state)) -> dict[str, Any]:
    return {"items": [{"name": name, "url": f"/reports/{name}"} for name in report_files(state, who.tenant)]}


@router.get("/reports/{name:path}", include_in_schema=False)
def open_report(
    name: str, who: Principal = Depends(admin), state: ServerState = Depends(get_state)
) -> FileResponse:
    # Looked up by name among the listed files: a crafted path cannot reach anything else.
    path = report_files(state, who.tenant).get(name)
    if path is None:
        raise ApiError(404, f"no report {name!r}", "report_not_found")
    return FileResponse(path, media_type="text/html")
