"""Prometheus metrics of a served app: requests, outcomes, stage latencies, cache and guard rates,
tokens, cost and feedback, per collection (scraped at GET /metrics: llmpilot.serving.metrics_api).

Every number comes from the answer's spans (llmpilot.monitoring.spans), so metrics and traces agree.
Each `ServiceMetrics` has its own registry: several apps can live in one process (tests) without
sharing or colliding counters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from llmpilot.monitoring.spans import root_span

#: Seconds, from a 1 ms cache hit to a 2-minute generation on a slow CPU.
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    20.0,
    30.0,
    60.0,
    120.0,
)
#: The `stage` label of the whole answer (the root span) in the latency histogram.
TOTAL_STAGE = "total"


class ServiceMetrics:
    """The app's counters, histogram and gauge, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "llmpilot_requests",
            "Answers served, by outcome (answered, abstained, blocked, cached, quoted)",
            ["collection", "endpoint", "outcome"],
            registry=r,
        )
        self.abstained = Counter(
            "llmpilot_abstained",
            "Answers that abstained for weak support (guardrail refusals: llmpilot_guard_blocked_total)",
            ["collection"],
            registry=r,
        )
        self.guard_blocked = Counter(
            "llmpilot_guard_blocked", "Answers a guardrail refused", ["collection"], registry=r
        )
        self.cache_hits = Counter(
            "llmpilot_cache_hits",
            "Answers served from the answer cache, by kind (exact, semantic)",
            ["collection", "kind"],
            registry=r,
        )
        self.feedback = Counter(
            "llmpilot_feedback", "Feedback received, by signal", ["collection", "signal"], registry=r
        )
        self.tokens = Counter(
            "llmpilot_tokens",
            "Generator tokens, by kind (prompt, completion)",
            ["collection", "kind"],
            registry=r,
        )
        self.cost = Counter(
            "llmpilot_cost_usd",
            "Estimated cost of the generator tokens in USD (monitoring.cost_per_1k_*)",
            ["collection"],
            registry=r,
        )
        self.stage_latency = Histogram(
            "llmpilot_stage_latency_seconds",
            'Latency of each answer stage that ran; stage="total" is the whole answer',
            ["collection", "stage"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.config_version = Gauge(
            "llmpilot_config_version", "The config version being served", ["collection"], registry=r
        )

    def observe_answer(self, collection: str, endpoint: str, spans: Sequence[dict[str, Any]]) -> None:
        """Count one served answer from its spans (llmpilot.monitoring.spans.answer_spans)."""
        root = root_span(spans)
        if root is None:
            return
        attrs = root.get("attributes", {})
        result = str(attrs.get("outcome", "answered"))
        self.requests.labels(collection, endpoint, result).inc()
        if result == "abstained":
            self.abstained.labels(collection).inc()
        if attrs.get("blocked"):
            self.guard_blocked.labels(collection).inc()
        if attrs.get("cached"):
            self.cache_hits.labels(collection, str(attrs["cached"])).inc()
        self.tokens.labels(collection, "prompt").inc(int(attrs.get("tokens.prompt", 0)))
        self.tokens.labels(collection, "completion").inc(int(attrs.get("tokens.completion", 0)))
        self.cost.labels(collection).inc(float(attrs.get("cost.usd", 0.0)))
        for span in spans:
            stage = TOTAL_STAGE if span is root else str(span["name"])
            self.stage_latency.labels(collection, stage).observe(float(span["duration_ms"]) / 1000.0)
        version = attrs.get("config.version")
        if isinstance(version, int) and not isinstance(version, bool):
            self.set_config_version(collection, version)

    def observe_feedback(self, collection: str, signal: str) -> None:
        self.feedback.labels(collection, signal).inc()

    def set_config_version(self, collection: str, version: int) -> None:
        self.config_version.labels(collection).set(version)

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition of every metric, and its content type (text format 0.0.4,
        which every Prometheus version parses; the names are all legacy-safe)."""
        return generate_latest(self.registry), CONTENT_TYPE_PLAIN_0_0_4
