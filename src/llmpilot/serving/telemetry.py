"""What the server records about each answer besides its trace row: spans (to OTLP or a JSONL file),
Prometheus metrics and the trace's monitoring metadata (config version, variant, spans, tokens,
cost). Nothing here may fail a request: every failure is logged and the answer goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from llmpilot.monitoring.metrics import ServiceMetrics
from llmpilot.monitoring.otel import NullSpanSink, SpanSink, open_sink
from llmpilot.monitoring.spans import answer_spans, root_span
from llmpilot.monitoring.store import MonitorStore
from llmpilot.serving.state import Collection
from llmpilot.store.serving import ServingStore
from llmpilot.types import Answer

log = logging.getLogger("llmpilot.serving")


def prices(collection: Collection) -> tuple[float, float]:
    """USD per 1000 prompt / completion tokens, from the collection's own config."""
    cfg = collection.pipeline.cfg.monitoring
    return cfg.cost_per_1k_prompt_tokens, cfg.cost_per_1k_completion_tokens


class Telemetry:
    """The app's metrics, span sink and monitoring store, fed once per finished answer."""

    def __init__(self, metrics: ServiceMetrics, sink: SpanSink, monitor: MonitorStore | None) -> None:
        self.metrics = metrics
        self.sink = sink
        self.monitor = monitor

    @classmethod
    def for_app(cls, collections: Sequence[Collection], store: ServingStore) -> Telemetry:
        """Spans go where the first collection's project config says (`monitoring.otlp_endpoint` or
        its `spans_file`); trace metadata goes to the store that holds the traces."""
        sink: SpanSink = NullSpanSink()
        if collections:
            first = collections[0]
            sink = open_sink(first.pipeline.cfg.monitoring, first.pipeline.project.root)
        telemetry = cls(ServiceMetrics(), sink, MonitorStore(store.store))
        for collection in collections:
            if collection.config_version is not None:
                telemetry.metrics.set_config_version(collection.name, collection.config_version)
        return telemetry

    def record_answer(
        self, collection: Collection, trace_id: str, answer: Answer, endpoint: str
    ) -> list[dict[str, Any]]:
        """Spans of a finished answer: stored with the trace, exported and counted. [] on failure."""
        try:
            spans = answer_spans(
                answer,
                trace_id=trace_id,
                tenant=collection.tenant,
                collection=collection.name,
                config_version=collection.config_version,
                config_hash=collection.config_hash,
                variant=collection.variant,
                endpoint=endpoint,
                ended_at_ns=time.time_ns(),
                prices=prices(collection),
            )
        except Exception:
            log.exception("could not build the spans of trace %s", trace_id)
            return []
        root = root_span(spans) or {"attributes": {}}
        if self.monitor is not None:
            try:
                self.monitor.add_trace_meta(
                    trace_id,
                    config_version=collection.config_version,
                    variant=collection.variant,
                    experiment_id=collection.experiment_id,
                    spans=spans,
                    tokens=answer.usage.total_tokens,
                    cost_usd=float(root["attributes"].get("cost.usd", 0.0)),
                )
            except Exception:
                log.exception("could not store the monitoring metadata of trace %s", trace_id)
        try:
            self.sink.export(spans)
        except Exception:
            log.exception("could not export the spans of trace %s", trace_id)
        try:
            self.metrics.observe_answer(collection.name, endpoint, spans)
        except Exception:
            log.exception("could not count trace %s in the metrics", trace_id)
        return spans

    def record_feedback(self, collection_name: str, signal: str) -> None:
        try:
            self.metrics.observe_feedback(collection_name, signal)
        except Exception:
            log.exception("could not count %s feedback in the metrics", signal)

    def close(self) -> None:
        """Flush and stop the span sink (it may be used again: a restarted app reuses it)."""
        try:
            self.sink.close()
        except Exception:
            log.exception("closing the span sink failed")
