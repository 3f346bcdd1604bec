"""Streaming answers over server-sent events, for both SSE routes (/api/ask and /v1/chat/completions).

Two jobs, one owner:

- `answer_events`: the event sequence with its trace — a trace row saved as "incomplete" before
  the first event (so feedback such as "abandoned" can refer to it while the answer streams), the
  deltas, then the finished answer; an error event if generation fails; and, when the client goes
  away mid-answer, the partial text it saw.
- `GuardedStream`: a StreamingResponse that *closes* the answer when the client disconnects.
  Starlette drives a sync iterator from a worker thread and, on disconnect, simply stops: the
  generator stays suspended and keeps the llama.cpp model's lock, so every later answer for every
  tenant waits forever (and so does shutdown). Here the iterator is stepped under a lock, the run is
  cancelled, and a closer thread closes the iterator as soon as the in-flight step returns, which
  unwinds the generator chain down to the model and releases it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncGenerator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from llmpilot.answering import AnswerRun
from llmpilot.serving.deps import SSE_HEADERS, save_trace
from llmpilot.serving.state import Collection, ServerState
from llmpilot.types import Answer

log = logging.getLogger("llmpilot.serving")


@dataclass(frozen=True)
class EventFormat:
    """How one route spells the events of an answer."""

    start: Callable[[AnswerRun], str]
    delta: Callable[[str], str]
    #: The closing events, given the answer and the text already streamed.
    done: Callable[[Answer, str], list[str]]
    error: Callable[[], str]
    #: Sent after everything, also after an error (OpenAI's `data: [DONE]`).
    tail: tuple[str, ...] = ()


def answer_events(
    state: ServerState,
    collection: Collection,
    run: AnswerRun,
    trace_id: str,
    endpoint: str,
    fmt: EventFormat,
) -> Iterator[str]:
    parts: list[str] = []
    done = False
    save_trace(state, collection, trace_id, run.interrupted(""), endpoint, incomplete=True)
    try:
        yield fmt.start(run)
        for delta in run:
            parts.append(delta)
            yield fmt.delta(delta)
        answer = run.finish()
        save_trace(state, collection, trace_id, answer, endpoint, update=True)
        done = True
        yield from fmt.done(answer, "".join(parts))
    except Exception:
        log.exception("answer stream %s failed", trace_id)
        done = True
        yield fmt.error()
    finally:
        if not done:  # the client went away mid-answer: keep what it saw
            save_trace(
                state,
                collection,
                trace_id,
                run.interrupted("".join(parts)),
                endpoint,
                incomplete=True,
                update=True,
            )
    yield from fmt.tail


_END = object()


async def _drive(events: Iterator[str], cancel: Callable[[], None]) -> AsyncGenerator[str, None]:
    """Step the sync iterator in worker threads; on any early exit cancel the run and close it."""
    step_lock = threading.Lock()

    def step() -> Any:
        with step_lock:
            return next(events, _END)

    def close() -> None:
        with step_lock:  # waits for a step still running in a worker thread
            try:
                close_events = getattr(events, "close", None)
                if close_events is not None:
                    close_events()
            except Exception:
                log.exception("closing an abandoned answer stream failed")

    finished = False
    try:
        while True:
            item = await anyio.to_thread.run_sync(step)
            if item is _END:
                finished = True
                return
            yield item
    finally:
        if not finished:
            cancel()
            threading.Thread(target=close, name="llmpilot-stream-close", daemon=True).start()


class GuardedStream(StreamingResponse):
    """An SSE response whose answer is cancelled and closed when the client goes away."""

    def __init__(self, events: Iterator[str], run: AnswerRun) -> None:
        self._driver = _drive(events, run.cancel)
        super().__init__(self._driver, media_type="text/event-stream", headers=SSE_HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Starlette leaves the body iterator suspended on disconnect; close it ourselves.
            with anyio.CancelScope(shield=True):
                await self._driver.aclose()
