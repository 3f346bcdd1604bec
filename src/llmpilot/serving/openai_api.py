"""OpenAI-compatible routes under /v1: a collection is a "model"; the RAG context and citations travel
in the extra field `llmpilot` of the completion (and of the first and last stream chunks).

The question is the last user message; when it is a follow-up ("And on Sunday?"), retrieval runs
with it condensed with the conversation (`llmpilot.conversation`). `temperature`, `max_tokens`,
`stop` and `n=1` are honoured; sampling fields llmpilot cannot honour are rejected with 400 when
they ask for anything but their no-op value. Input is never truncated: a question over the limit is
a 400, the same limit `/api/ask` has.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from fastapi import APIRouter, Depends

from llmpilot.answering import AnswerRun, DefendedAnswer, answer_dict
from llmpilot.pipeline import Sampling
from llmpilot.serving.auth import Principal
from llmpilot.serving.deps import ERRORS, citation_json, get_state, principal, save_trace
from llmpilot.serving.errors import ApiError, error_body
from llmpilot.serving.schemas import (
    MAX_QUESTION_CHARS,
    ChatCompletion,
    ChatRequest,
    ModelCard,
    ModelList,
    RagExtra,
)
from llmpilot.serving.state import Collection, ServerState
from llmpilot.serving.streaming import EventFormat, GuardedStream, answer_events

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
    """The last user message with text: the question (never cut: over the limit is a 400)."""
    for i in range(len(body.messages) - 1, -1, -1):
        message = body.messages[i]
        if message.role == "user":
            text = message.text().strip()
            if text:
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    raise ApiError(400, "messages: text is not valid Unicode", "invalid_request") from None
                if len(text) > MAX_QUESTION_CHARS:
                    raise ApiError(
                        400,
                        f"messages[{i}].content: the question is {len(text)} characters; the limit is "
                        f"{MAX_QUESTION_CHARS} (the same as /api/ask). Shorten it; nothing is truncated.",
                        "question_too_long",
                    )
                return text
    raise ApiError(400, "messages: no user message with text content to answer", "invalid_request")


#: Fields llmpilot cannot honour, with the value that means "no effect" (accepted).
_UNSUPPORTED_SAMPLING: dict[str, Any] = {
    "top_p": 1.0,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "logprobs": False,
    "top_logprobs": 0,
    "logit_bias": {},
    "tools": [],
    "functions": [],
    "tool_choice": "none",
}


def sampling(body: ChatRequest, max_tokens_limit: int) -> Sampling:
    """The request's generation settings, or a 400 naming the field it cannot honour."""
    if (body.n or 1) != 1:
        raise ApiError(400, f"n: only n=1 is supported (got {body.n})", "unsupported_parameter")
    extra = body.model_extra or {}
    for name, no_op in _UNSUPPORTED_SAMPLING.items():
        value = getattr(body, name, None) if name in type(body).model_fields else extra.get(name)
        if value is not None and value != no_op:
            raise ApiError(
                400,
                f"{name}: not supported by llmpilot (got {value!r}); leave it out or set it to {no_op!r}",
                "unsupported_parameter",
            )
    response_format = extra.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type", "text") != "text":
        raise ApiError(400, "response_format: only {'type': 'text'} is supported", "unsupported_parameter")
    max_tokens = body.max_completion_tokens or body.max_tokens
    if max_tokens is not None and max_tokens > max_tokens_limit:
        raise ApiError(
            400,
            f"max_tokens: {max_tokens} exceeds this model's limit of {max_tokens_limit}",
            "invalid_request",
        )
    stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    if len(stop) > 4 or any(not s for s in stop):
        raise ApiError(400, "stop: up to 4 non-empty strings", "invalid_request")
    return Sampling(max_tokens=max_tokens, temperature=body.temperature, stop=tuple(stop))


#: The answer fields the `llmpilot` extra carries: those RagExtra declares, taken from the one
#: answer JSON (`answer_dict`), so a new answer field reaches /v1 by being declared there.
_RAG_FIELDS = tuple(name for name in RagExtra.model_fields if name not in ("trace_id", "condensed_by"))


def _extra(answer: DefendedAnswer, trace_id: str, condensed_by: str) -> dict[str, Any]:
    body = answer_dict(answer)
    return {"trace_id": trace_id, "condensed_by": condensed_by, **{name: body[name] for name in _RAG_FIELDS}}


@router.post("/chat/completions", response_model=ChatCompletion, responses=CHAT_RESPONSES)
def chat_completions(
    body: ChatRequest, who: Principal = Depends(principal), state: ServerState = Depends(get_state)
) -> Any:
    collection = state.serving_collection(who.tenant, body.model, str(who.key_id))
    question = _question(body)
    settings = sampling(body, collection.max_tokens_limit)
    search_query, condensed_by = collection.condense(body.messages)
    run = collection.start(
        question, k=None, lang=None, generate=True, search_query=search_query, sampling=settings
    )
    trace_id = str(uuid.uuid4())
    completion_id = f"chatcmpl-{trace_id}"
    created = int(time.time())
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        fmt = chat_format(collection, trace_id, completion_id, created, condensed_by, include_usage)
        events = answer_events(state, collection, run, trace_id, "v1/chat/completions", fmt)
        return GuardedStream(events, run)
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
        "usage": answer.usage.as_dict(),
        "llmpilot": _extra(answer, trace_id, condensed_by),
    }


def chat_format(
    collection: Collection,
    trace_id: str,
    completion_id: str,
    created: int,
    condensed_by: str,
    include_usage: bool,
) -> EventFormat:
    def event(choices: list[dict[str, Any]], **fields: Any) -> str:
        payload = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": collection.name,
            "choices": choices,
            **fields,
        }
        return "data: " + json_dumps(payload) + "\n\n"

    def chunk(delta: dict[str, Any], finish: str | None, extra: dict[str, Any] | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return event([choice]) if extra is None else event([choice], llmpilot=extra)

    def start(run: AnswerRun) -> str:
        sources = [citation_json(s) for s in run.sources]
        return chunk({"role": "assistant", "content": ""}, None, {"trace_id": trace_id, "sources": sources})

    def done(answer: DefendedAnswer, streamed: str) -> list[str]:
        events = []
        if not streamed and answer.text:  # abstained: the message is the whole answer
            events.append(chunk({"content": answer.text}, None))
        events.append(chunk({}, "stop", _extra(answer, trace_id, condensed_by)))
        if include_usage:  # OpenAI's shape: a last chunk with no choices and the usage
            events.append(event([], usage=answer.usage.as_dict()))
        return events

    def error() -> str:
        body = error_body(500, "the answer failed while streaming", "stream_failed")
        return "data: " + json_dumps(body) + "\n\n"

    return EventFormat(
        start=start,
        delta=lambda text: chunk({"content": text}, None),
        done=done,
        error=error,
        tail=("data: [DONE]\n\n",),
    )


def json_dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
