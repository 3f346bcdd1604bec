"""ServiceMetrics (llmpilot.monitoring.metrics): counted from answer spans, rendered in the
Prometheus text format and read back with prometheus_client's own parser."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from llmpilot.monitoring.metrics import LATENCY_BUCKETS, ServiceMetrics
from llmpilot.monitoring.spans import answer_spans
from llmpilot.types import Answer, Usage
from tests.unit.test_spans import decision, generated_answer


def spans(answer: Answer, version: int | None = 2) -> list[dict[str, Any]]:
    return answer_spans(
        answer,
        trace_id=str(uuid.uuid4()),
        tenant="acme",
        collection="manuals",
        config_version=version,
        config_hash="h",
        variant="live",
        endpoint="api/ask",
        ended_at_ns=10**18,
        prices=(1.0, 2.0),
    )


def samples(metrics: ServiceMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain") and "version=0.0.4" in content_type
    found = {}
    for family in text_string_to_metric_families(body.decode("utf-8")):
        for s in family.samples:
            found[(s.name, frozenset(s.labels.items()))] = s.value
    return found


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def test_answers_are_counted_by_outcome_with_tokens_cost_and_stage_latencies() -> None:
    metrics = ServiceMetrics()
    answered = generated_answer()
    abstained = generated_answer(
        abstained=True,
        generated=False,
        usage=Usage(),
        latency_ms={"retrieve": 5.0, "generate": 0.0, "total": 6.0},
    )
    blocked = generated_answer(
        blocked=True,
        abstained=True,
        usage=Usage(),
        latency_ms={"guard_input": 2.0, "retrieve": 0.0, "generate": 0.0, "total": 2.5},
        decisions=[decision("input", "injection", "block", 0.9)],
    )
    cached = generated_answer(
        cached="exact",
        usage=Usage(),
        latency_ms={"cache": 0.5, "retrieve": 0.0, "generate": 0.0, "total": 1.0},
    )
    for answer in (answered, answered, abstained, blocked, cached):
        metrics.observe_answer("manuals", "api/ask", spans(answer))
    metrics.observe_feedback("manuals", "thumbs_up")
    metrics.observe_feedback("manuals", "thumbs_up")
    metrics.observe_feedback("manuals", "correction")
    found = samples(metrics)

    def requests(result: str) -> float:
        return value(
            found, "llmpilot_requests_total", collection="manuals", endpoint="api/ask", outcome=result
        )

    assert [requests(r) for r in ("answered", "abstained", "blocked", "cached", "quoted")] == [2, 1, 1, 1, 0]
    assert value(found, "llmpilot_abstained_total", collection="manuals") == 1
    assert value(found, "llmpilot_guard_blocked_total", collection="manuals") == 1
    assert value(found, "llmpilot_cache_hits_total", collection="manuals", kind="exact") == 1
    assert value(found, "llmpilot_feedback_total", collection="manuals", signal="thumbs_up") == 2
    assert value(found, "llmpilot_feedback_total", collection="manuals", signal="correction") == 1
    assert value(found, "llmpilot_tokens_total", collection="manuals", kind="prompt") == 2 * 1200
    assert value(found, "llmpilot_tokens_total", collection="manuals", kind="completion") == 2 * 30
    assert value(found, "llmpilot_cost_usd_total", collection="manuals") == pytest.approx(2 * (1.2 + 0.06))
    assert value(found, "llmpilot_config_version", collection="manuals") == 2

    def stage_count(stage: str) -> float:
        return value(found, "llmpilot_stage_latency_seconds_count", collection="manuals", stage=stage)

    assert stage_count("total") == 5
    assert stage_count("retrieve") == 3  # the two answers and the abstention
    assert stage_count("generate") == 2
    assert stage_count("answer_policy") == 3
    assert stage_count("guard_input") == 3  # the answers (the fixture ran the rail) and the refusal
    assert stage_count("cache") == 3
    # Seconds, not milliseconds: two 500 ms generations.
    assert value(
        found, "llmpilot_stage_latency_seconds_sum", collection="manuals", stage="generate"
    ) == pytest.approx(1.0)
    le = {
        b: value(
            found, "llmpilot_stage_latency_seconds_bucket", collection="manuals", stage="generate", le=str(b)
        )
        for b in LATENCY_BUCKETS
    }
    assert le[0.25] == 0 and le[0.5] == 2 and le[120.0] == 2


def test_two_apps_in_one_process_keep_their_own_counts() -> None:
    first, second = ServiceMetrics(), ServiceMetrics()
    first.observe_answer("manuals", "api/ask", spans(generated_answer()))
    assert (
        value(
            samples(first),
            "llmpilot_requests_total",
            collection="manuals",
            endpoint="api/ask",
            outcome="answered",
        )
        == 1
    )
    assert (
        value(
            samples(second),
            "llmpilot_requests_total",
            collection="manuals",
            endpoint="api/ask",
            outcome="answered",
        )
        == 0
    )


def test_the_config_version_gauge_follows_the_served_version() -> None:
    metrics = ServiceMetrics()
    metrics.set_config_version("manuals", 4)
    assert value(samples(metrics), "llmpilot_config_version", collection="manuals") == 4
    metrics.observe_answer("manuals", "api/ask", spans(generated_answer(), version=5))
    assert value(samples(metrics), "llmpilot_config_version", collection="manuals") == 5
    # An answer without a version leaves the gauge alone.
    metrics.observe_answer("manuals", "api/ask", spans(generated_answer(), version=None))
    assert value(samples(metrics), "llmpilot_config_version", collection="manuals") == 5


def test_spans_without_a_root_count_nothing() -> None:
    metrics = ServiceMetrics()
    children = [s for s in spans(generated_answer()) if s["parent_span_id"] is not None]
    metrics.observe_answer("manuals", "api/ask", children)
    assert not any(name == "llmpilot_requests_total" for name, _ in samples(metrics))


def test_a_quoted_answer_is_its_own_outcome() -> None:
    metrics = ServiceMetrics()
    metrics.observe_answer(
        "manuals", "v1/chat/completions", spans(replace(generated_answer(), fallback="extractive"))
    )
    found = samples(metrics)
    assert (
        value(
            found,
            "llmpilot_requests_total",
            collection="manuals",
            endpoint="v1/chat/completions",
            outcome="quoted",
        )
        == 1
    )
