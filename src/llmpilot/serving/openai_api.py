"""OpenAI-compatible routes under /v1: a collection is a "model"; the RAG context and citations travel
in the extra field `llmpilot` of the completion (and of the first and last stream chunks).

The question is the last user message; earlier turns are not used for retrieval. Sampling fields
(temperature, max_tokens, ...) are accepted and ignored: the collection's config decides them.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from llmpilot.answering import AnswerRun, DefendedAnswer
from llmpilot.serving.auth import Principal
from llmpilot.serving.deps import ERRORS, SSE_HEADERS, citation_json, get_state, log, principal, save_trace
from llmpilot.serving.errors import ApiError, error_body
from llmpilot.serving.schemas import ChatCompletion, ChatRequest, ModelCard, ModelList
from llmpilot.serving.state import Collection, ServerState

router = APIRouter(prefix="/v1", tags=["openai"])

CHAT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A chat completion; with `stream: true` a text/event-stream of "
        "chat.completion.chunk objects ending with `data: [DONE]`",
        "content": {
            "text/event-stream": {
                "schema": {
                    "type": "object",
                    "description": "One server-sent event: `data` is a chat.completion.chunk as JSON, "
                    "or [DONE] at the end",
                    "properties": {"data": {"type": "string"}},
                    "required": ["data"],
                }
            }
        },
    },
    **ERRORS,
}


def _card(c: Collection, created: int) -> dict[str, Any]:
    return {"id": c.name, "object": "model", "created": created, "owned_by": c.tenant}


@router.get("/models", response_model=ModelList, responses=ERRORS)
def list_models(
    who: Principal = Depends(principal), state: ServerState = Depends(get_state)
) -> dict[str, Any]:
    created = int(state.started_at)
    return {"object": "list", "data": [_card(c, created) for c in state.collections_for(who.tenant)]}


@router.get("/models/{model}", response_model=ModelCard, responses=ERRORS)
def get_model(
    model: str, who: Principal = Depends(principal), state: ServerState = Depends(get_state)
) -> dict[str, Any]:
    return _card(state.collection(who.tenant, model), int(state.started_at))


def _question(body: ChatRequest) -> str:
    for message in reversed(body.messages):
        if message.role == "user":
            text = message.text().strip()
            if text:
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    raise ApiError(400, "messages: text is not valid Unicode", "invalid_request") from None
                return text[:4000]
    raise ApiError(400, "messages: no user message with text content to answer", "invalid_request")


def _extra(answer: DefendedAnswer, trace_id: str) -> dict[str, Any]:
    return {
        "trace_id": trace_id,
        "citations": [citation_json(c) for c in answer.citations],
        "sources": [citation_json(c) for c in answer.sources],
        "confidence": answer.confidence,
        "abstained": answer.abstained,
        "reason": answer.reason,
        "followups": answer.followups,
        "invalid_citations": answer.invalid_citations,
        "unsupported_numbers": answer.unsupported_numbers,
    }


@router.post("/chat/completions", response_model=ChatCompletion, responses=CHAT_RESPONSES)
def chat_completions(
    body: ChatRequest, who: Principal = Depends(principal), state: ServerState = Depends(get_state)
) -> Any:
    collection = state.collection(who.tenant, body.model)
    run = collection.start(_question(body), k=None, lang=None, generate=True)
    trace_id = str(uuid.uuid4())
    completion_id = f"chatcmpl-{trace_id}"
    created = int(time.time())
    if body.stream:
        events = chat_events(state, collection, run, trace_id, completion_id, created)
        return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)
    answer = run.finish()
    save_trace(state, collection, trace_id, answer, "v1/chat/completions")
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": collection.name,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": answer.text}, "finish_reason": "stop"}
        ],
        # Token counts are not tracked through the pipeline; zeros say "unknown" to OpenAI clients.
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        "llmpilot": _extra(answer, trace_id),
    }


def chat_events(
    state: ServerState,
    collection: Collection,
    run: AnswerRun,
    trace_id: str,
    completion_id: str,
    created: int,
) -> Iterator[str]:
    def chunk(delta: dict[str, Any], finish: str | None, extra: dict[str, Any] | None = None) -> str:
        payload: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": collection.name,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        if extra is not None:
            payload["llmpilot"] = extra
        return "data: " + json_dumps(payload) + "\n\n"

    parts: list[str] = []
    done = False
    save_trace(state, collection, trace_id, run.interrupted(""), "v1/chat/completions", incomplete=True)
    try:
        sources = [citation_json(s) for s in run.sources]
        yield chunk({"role": "assistant", "content": ""}, None, {"trace_id": trace_id, "sources": sources})
        for delta in run:
            parts.append(delta)
            yield chunk({"content": delta}, None)
        answer = run.finish()
        if not parts and answer.text:  # abstained: the message is the whole answer
            yield chunk({"content": answer.text}, None)
        save_trace(state, collection, trace_id, answer, "v1/chat/completions", update=True)
        done = True
        yield chunk({}, "stop", _extra(answer, trace_id))
    except Exception:
        log.exception("chat stream %s failed", trace_id)
        done = True
        yield (
            "data: "
            + json_dumps(error_body(500, "the answer failed while streaming", "stream_failed"))
            + "\n\n"
        )
    finally:
        if not done:
            save_trace(
                state,
                collection,
                trace_id,
                run.interrupted("".join(parts)),
                "v1/chat/completions",
                incomplete=True,
                update=True,
            )
    yield "data: [DONE]\n\n"


def json_dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
