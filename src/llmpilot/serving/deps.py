"""Request dependencies shared by the routers, and the answer -> JSON/trace conversions."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from fastapi import Depends, Request

from llmpilot.answering import answer_dict, citation_dict
from llmpilot.serving.auth import Principal, check_rate, identify
from llmpilot.serving.errors import ApiError
from llmpilot.serving.schemas import ErrorResponse
from llmpilot.serving.state import Collection, ServerState
from llmpilot.store.serving import TraceRecord
from llmpilot.types import Answer, Citation

log = logging.getLogger("llmpilot.serving")

#: Documented error responses (the OpenAPI spec lists them, so clients and schemathesis know them).
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in (
        (400, "Bad request"),
        (401, "Missing, invalid or revoked API key / session"),
        (403, "The key's role may not call this route"),
        (404, "Not found (or owned by another tenant)"),
        (413, "Request body too large"),
        (422, "Invalid request body or parameters"),
        (429, "Rate limit exceeded (see Retry-After)"),
    )
}
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def get_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.llmpilot
    return state


def principal(request: Request) -> Principal:
    """The authenticated caller (Bearer key or session cookie), counted against its rate limit."""
    state = get_state(request)
    key = identify(request, state.store, state.sessions)
    check_rate(state.limiter, key)
    return Principal(key_id=key.id, tenant=key.tenant, role=key.role)


def admin(who: Principal = Depends(principal)) -> Principal:
    if not who.is_admin:
        raise ApiError(403, "this route needs an admin key of your tenant", "admin_required")
    return who


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def citation_json(c: Citation) -> dict[str, Any]:
    return citation_dict(c)


def ask_payload(answer: Answer, trace_id: str) -> dict[str, Any]:
    """The /api/ask response (and the `done` event) for an answer: `llmpilot ask --json`'s object
    plus the trace id."""
    return {**answer_dict(answer), "trace_id": trace_id}


def save_trace(
    state: ServerState,
    collection: Collection,
    trace_id: str,
    answer: Answer,
    endpoint: str,
    *,
    incomplete: bool = False,
    update: bool = False,
) -> None:
    """Store the answer's trace (`update`: complete the row saved when its stream started)."""
    details = {
        "endpoint": endpoint,
        "lang": answer.lang,
        "generated": answer.generated,
        "invalid_citations": answer.invalid_citations,
        "unsupported_numbers": answer.unsupported_numbers,
        "unsupported_sentences": answer.unsupported_sentences,
        "support": answer.support,
        "unsupported_text": answer.unsupported_text,
        "attributed": any(c.attributed for c in answer.citations),
        "followups": answer.followups,
        "fallback": answer.fallback,
        "retried": answer.retried,
        "incomplete": incomplete,
        "cached": answer.cached,
        "blocked": answer.blocked,
        "decisions": answer.decisions,
        # The retrieval confidence (best dense cosine, else squashed BM25): llmpilot.monitoring's drift
        # signal; the sources' fused scores are min-max normalized per query and cannot be compared.
        "retrieval_confidence": answer.signals.get("retrieval"),
        # Which server process answered (`serve --workers N` runs N of them over one store).
        "worker_pid": os.getpid(),
    }
    latency = {key: answer.latency_ms.get(key, 0.0) for key in ("retrieve", "generate", "total")}
    latency.update({key: ms for key, ms in answer.latency_ms.items() if key not in latency})
    try:
        record = TraceRecord(
            id=trace_id,
            tenant=collection.tenant,
            collection=collection.name,
            question=answer.question,
            answer=answer.text,
            abstained=answer.abstained,
            reason=answer.reason,
            confidence=answer.confidence,
            citations=[citation_json(c) for c in answer.citations],
            sources=[citation_json(c) for c in answer.sources],
            latency_ms=latency,
            details=details,
            config_hash=collection.config_hash,
        )
        if update:
            state.store.update_trace(record)
        else:
            state.store.add_trace(record)
    except Exception:  # a lost trace must not fail the answer the user already has
        log.exception("could not store trace %s", trace_id)
    final = not incomplete or update  # not the row saved as a stream starts: its answer is to come
    if final and state.telemetry is not None:
        state.telemetry.record_answer(collection, trace_id, answer, endpoint)
    if final:
        state.after_answer(collection, trace_id, answer)
