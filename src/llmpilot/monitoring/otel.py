"""Where the answer spans go (llmpilot.monitoring.spans): an OpenTelemetry collector over OTLP/HTTP
when one is configured, else a JSONL file of OTLP-JSON-shaped spans in the project.

A sink never blocks or fails a request: the OTLP sink queues the spans for a background thread and,
when the queue is full or the collector fails, drops them, counts the drop and logs it once.
Both sinks keep working after `close()` (a test client or a server restart closes and reuses them).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from llmpilot.config import MonitoringConfig
from llmpilot.extras import requires_extra

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

log = logging.getLogger("llmpilot.monitoring")

SERVICE_NAME = "llmpilot"
SCOPE_NAME = "llmpilot.monitoring"
#: OTLP's path for traces, appended to a base endpoint (OTEL_EXPORTER_OTLP_ENDPOINT) as OTel does.
TRACES_PATH = "/v1/traces"


class SpanSink(Protocol):
    def export(self, spans: list[dict[str, Any]]) -> None: ...

    def close(self) -> None: ...


class NullSpanSink:
    """Keeps nothing (an app serving no collection)."""

    def export(self, spans: list[dict[str, Any]]) -> None:
        return None

    def close(self) -> None:
        return None


# --- OTLP/JSON encoding ------------------------------------------------------------------------


def otlp_value(value: Any) -> dict[str, Any]:
    """An attribute value in OTLP/JSON (64-bit integers as decimal strings, as protobuf JSON does)."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": str(value)}


def otlp_attributes(attributes: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"key": key, "value": otlp_value(value)} for key, value in attributes.items()]


def otlp_json_span(span: Mapping[str, Any]) -> dict[str, Any]:
    """One span dict as an OTLP/JSON span, with its resource and scope (one line of the JSONL file)."""
    return {
        "resource": {"attributes": otlp_attributes({"service.name": SERVICE_NAME})},
        "scope": {"name": SCOPE_NAME},
        "traceId": span["trace_id"],
        "spanId": span["span_id"],
        "parentSpanId": span.get("parent_span_id") or "",
        "name": span["name"],
        # SPAN_KIND_SERVER for the request, SPAN_KIND_INTERNAL for its stages.
        "kind": 2 if span.get("parent_span_id") is None else 1,
        "startTimeUnixNano": str(span["start_ns"]),
        "endTimeUnixNano": str(span["end_ns"]),
        "attributes": otlp_attributes(span.get("attributes", {})),
    }


class JsonlSpanSink:
    """Appends one OTLP/JSON span per line to `path` (created with its folder on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def export(self, spans: list[dict[str, Any]]) -> None:
        lines = "".join(json.dumps(otlp_json_span(s), ensure_ascii=False) + "\n" for s in spans)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Opened per write: nothing to leak, and a rotated file is picked up at once.
            with self.path.open("a", encoding="utf-8") as out:
                out.write(lines)

    def close(self) -> None:
        return None


# --- OTLP/HTTP ---------------------------------------------------------------------------------


def readable_spans(spans: Sequence[Mapping[str, Any]]) -> list[ReadableSpan]:
    """Span dicts as OpenTelemetry SDK spans with their own trace/span ids, parents and times."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import SpanContext, SpanKind, TraceFlags

    resource = Resource.create({"service.name": SERVICE_NAME})
    scope = InstrumentationScope(SCOPE_NAME)
    sampled = TraceFlags(TraceFlags.SAMPLED)

    def context(trace_id: str, span_id: str) -> SpanContext:
        return SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=False, trace_flags=sampled)

    out = []
    for span in spans:
        parent = span.get("parent_span_id")
        out.append(
            ReadableSpan(
                name=str(span["name"]),
                context=context(span["trace_id"], span["span_id"]),
                parent=context(span["trace_id"], parent) if parent else None,
                resource=resource,
                attributes=dict(span.get("attributes", {})),
                kind=SpanKind.SERVER if not parent else SpanKind.INTERNAL,
                start_time=int(span["start_ns"]),
                end_time=int(span["end_ns"]),
                instrumentation_scope=scope,
            )
        )
    return out


#: What close() puts on a worker's queue: send what came before, then stop.
_STOP = None
Batch = list[dict[str, Any]]


class OtlpSpanSink:
    """Sends spans to an OTLP/HTTP traces endpoint from a background thread.

    `export` only enqueues (a bounded queue: a slow or absent collector never holds a request);
    the thread sends what is queued in batches. Spans dropped on a full queue or a failed export
    are counted in `dropped` and logged once."""

    def __init__(
        self,
        endpoint: str,
        headers: Mapping[str, str] | None = None,
        *,
        max_queue: int = 2048,
        max_batch: int = 64,
        timeout_s: float = 10.0,
    ) -> None:
        with requires_extra("otlp", "Exporting spans over OTLP (monitoring.otlp_endpoint)"):
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        self.endpoint = endpoint
        self._make_exporter = lambda: OTLPSpanExporter(
            endpoint=endpoint, headers=dict(headers) if headers else None, timeout=timeout_s
        )
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        #: The running thread and its own queue (a sink reused after close() starts a new pair).
        self._worker: tuple[threading.Thread, queue.Queue[Batch | None]] | None = None
        self._warned = False
        #: Spans not delivered (full queue, export error or refusal by the collector).
        self.dropped = 0
        #: Spans the collector accepted.
        self.sent = 0

    def export(self, spans: list[dict[str, Any]]) -> None:
        if not spans:
            return
        with self._lock:
            if self._worker is None or not self._worker[0].is_alive():
                inbox: queue.Queue[Batch | None] = queue.Queue(maxsize=self.max_queue)
                thread = threading.Thread(target=self._run, args=(inbox,), name="llmpilot-otlp", daemon=True)
                thread.start()
                self._worker = (thread, inbox)
            inbox = self._worker[1]
        try:
            inbox.put_nowait(list(spans))
        except queue.Full:
            self._drop(len(spans), "the span queue is full (the collector is slow or down)")

    def close(self) -> None:
        """Send what is queued (waiting up to the export timeout), then stop the thread."""
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is None:
            return
        thread, inbox = worker
        try:
            inbox.put(_STOP, timeout=self.timeout_s)
        except queue.Full:
            log.warning("the OTLP span queue is still full at shutdown; its spans are dropped")
            return
        thread.join(timeout=self.timeout_s * 2)

    def _run(self, inbox: queue.Queue[Batch | None]) -> None:
        exporter: Any = None
        try:
            exporter = self._make_exporter()
        except Exception:  # e.g. a malformed endpoint: every span is dropped (and counted) instead
            log.exception("could not create the OTLP exporter for %s", self.endpoint)
        try:
            stop = False
            while not stop:
                item = inbox.get()
                if item is _STOP:
                    return
                batch: Batch = list(item)
                while len(batch) < self.max_batch:  # what else is waiting goes in the same request
                    try:
                        more = inbox.get_nowait()
                    except queue.Empty:
                        break
                    if more is _STOP:
                        stop = True
                        break
                    batch.extend(more)
                self._send(exporter, batch)
        finally:
            if exporter is not None:
                exporter.shutdown()

    def _send(self, exporter: Any, batch: list[dict[str, Any]]) -> None:
        from opentelemetry.sdk.trace.export import SpanExportResult

        if exporter is None:
            self._drop(len(batch), "no exporter (see the error logged above)")
            return
        try:
            result = exporter.export(readable_spans(batch))
        except Exception as exc:  # the collector's problem must never reach a request
            self._drop(len(batch), f"export failed: {exc}")
            return
        if result == SpanExportResult.SUCCESS:
            with self._lock:
                self.sent += len(batch)
        else:
            self._drop(len(batch), f"the collector at {self.endpoint} did not accept them")

    def _drop(self, n: int, why: str) -> None:
        with self._lock:
            self.dropped += n
            first, self._warned = not self._warned, True
        if first:
            log.warning("dropped %d span(s) for %s: %s (logged once; see `dropped`)", n, self.endpoint, why)


# --- choosing the sink -------------------------------------------------------------------------


def traces_endpoint(base: str) -> str:
    """A base OTLP/HTTP endpoint (http://collector:4318) -> its traces URL, as OTel's SDK does."""
    base = base.strip()
    if base.rstrip("/").endswith(TRACES_PATH):
        return base
    return base.rstrip("/") + TRACES_PATH


def otlp_endpoint(cfg: MonitoringConfig, environ: Mapping[str, str] | None = None) -> str | None:
    """The traces URL: `monitoring.otlp_endpoint`, else OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (as is),
    else OTEL_EXPORTER_OTLP_ENDPOINT (+ /v1/traces); None when none is set."""
    env = os.environ if environ is None else environ
    if cfg.otlp_endpoint:
        return cfg.otlp_endpoint
    if env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip():
        return env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"].strip()
    if env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip():
        return traces_endpoint(env["OTEL_EXPORTER_OTLP_ENDPOINT"])
    return None


def open_sink(cfg: MonitoringConfig, project_root: Path) -> SpanSink:
    """OTLP when an endpoint is configured (the `otlp` extra is needed), else the project's JSONL file.
    Headers for the collector come from OTEL_EXPORTER_OTLP_HEADERS, read by the exporter."""
    endpoint = otlp_endpoint(cfg)
    if endpoint:
        return OtlpSpanSink(endpoint)
    return JsonlSpanSink(project_root / cfg.spans_file)
