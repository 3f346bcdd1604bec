"""Answer spans (llmpilot.monitoring.spans): which stages become spans, their layout in time, their
ids and parent links, and the attributes a trace viewer shows."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import replace
from typing import Any

import pytest

from llmpilot.monitoring.spans import (
    ROOT_SPAN,
    answer_spans,
    cost_usd,
    guard_attributes,
    outcome,
    root_span,
    stage_durations,
)
from llmpilot.types import Answer, Citation, Usage

TRACE_ID = str(uuid.uuid4())
END_NS = 1_700_000_000_000_000_000


def source(n: int, score: float) -> Citation:
    return Citation(n=n, doc_id=f"d{n}", chunk_id=f"c{n}", title="", snippet="", start=0, end=1, score=score)


def decision(stage: str, name: str, outcome: str, score: float | None = None) -> dict[str, Any]:
    return {
        "stage": stage,
        "name": name,
        "outcome": outcome,
        "score": score,
        "latency_ms": 0.1,
        "reason": "",
        "details": {},
    }


def generated_answer(**changes: Any) -> Answer:
    answer = Answer(
        question="q",
        lang="en",
        text="Open 9-13 on Saturday [1].",
        citations=[source(1, 0.8)],
        sources=[source(1, 0.8), source(2, 0.4)],
        confidence=0.7,
        abstained=False,
        reason="",
        followups=[],
        generated=True,
        support=0.9,
        usage=Usage(prompt_tokens=1200, completion_tokens=30),
        latency_ms={
            "cache": 2.0,
            "guard_input": 3.0,
            "retrieve": 40.0,
            "guard_documents": 1.0,
            "generate": 500.0,
            "guard_output": 4.0,
            "cache_store": 5.0,
            "total": 600.0,
        },
        decisions=[
            decision("cache", "lookup", "miss", 0.5),
            decision("input", "injection", "allow", 0.1),
            decision("input", "pii", "redact"),
            decision("documents", "injection", "allow"),
            decision("output", "pii", "allow"),
            decision("cache", "exact", "stored"),
        ],
    )
    return replace(answer, **changes)


def spans_of(answer: Answer, **kw: Any) -> list[dict[str, Any]]:
    args: dict[str, Any] = {
        "trace_id": TRACE_ID,
        "tenant": "acme",
        "collection": "manuals",
        "config_version": 3,
        "config_hash": "abc123",
        "variant": "live",
        "endpoint": "api/ask",
        "ended_at_ns": END_NS,
        "prices": (0.5, 1.5),
    }
    args.update(kw)
    return answer_spans(answer, **args)


def test_outcomes() -> None:
    answer = generated_answer()
    assert outcome(answer) == "answered"
    assert outcome(replace(answer, fallback="extractive")) == "quoted"
    assert outcome(replace(answer, abstained=True)) == "abstained"
    assert outcome(replace(answer, cached="semantic")) == "cached"
    assert outcome(replace(answer, abstained=True, blocked=True)) == "blocked"


def test_cost_is_tokens_times_prices_per_thousand() -> None:
    assert cost_usd(Usage(2000, 500), (0.5, 1.5)) == pytest.approx(1.0 + 0.75)
    assert cost_usd(Usage(2000, 500), (0.0, 0.0)) == 0.0


def test_a_generated_answer_has_every_stage_in_order_ending_at_the_end_time() -> None:
    spans = spans_of(generated_answer())
    root, children = spans[0], spans[1:]
    assert root["name"] == ROOT_SPAN and root["parent_span_id"] is None and root_span(spans) is root
    assert [s["name"] for s in children] == [
        "cache",
        "guard_input",
        "retrieve",
        "guard_documents",
        "generate",
        "answer_policy",
        "guard_output",
        "cache_store",
    ]
    assert all(s["trace_id"] == uuid.UUID(TRACE_ID).hex and len(s["trace_id"]) == 32 for s in spans)
    ids = [s["span_id"] for s in spans]
    assert len(set(ids)) == len(ids) and all(len(i) == 16 and int(i, 16) > 0 for i in ids)
    assert all(s["parent_span_id"] == root["span_id"] for s in children)
    # Sequential: each stage starts where the previous one ended, within the root.
    assert root["end_ns"] == END_NS and root["start_ns"] == END_NS - 600_000_000
    assert children[0]["start_ns"] == root["start_ns"]
    for before, after in itertools.pairwise(children):
        assert after["start_ns"] == before["end_ns"]
    assert children[-1]["end_ns"] == END_NS
    # The policy is the time no other stage took: 600 - (2+3+40+1+500+4+5).
    policy = next(s for s in children if s["name"] == "answer_policy")
    assert policy["duration_ms"] == pytest.approx(45.0)
    assert root["duration_ms"] == pytest.approx(600.0)


def test_root_attributes() -> None:
    attrs = spans_of(generated_answer())[0]["attributes"]
    assert attrs["tenant"] == "acme" and attrs["collection"] == "manuals"
    assert attrs["config.version"] == 3 and attrs["config.hash"] == "abc123"
    assert attrs["variant"] == "live" and attrs["endpoint"] == "api/ask"
    assert attrs["outcome"] == "answered" and attrs["abstained"] is False
    assert attrs["confidence"] == pytest.approx(0.7) and attrs["support"] == pytest.approx(0.9)
    assert attrs["tokens.prompt"] == 1200 and attrs["tokens.completion"] == 30
    assert attrs["cost.usd"] == pytest.approx((1200 * 0.5 + 30 * 1.5) / 1000)
    assert attrs["lang"] == "en" and attrs["fallback"] == ""
    # No version yet: the attribute is left out (OpenTelemetry has no null).
    assert "config.version" not in spans_of(generated_answer(), config_version=None)[0]["attributes"]


def test_stage_attributes() -> None:
    by_name = {s["name"]: s["attributes"] for s in spans_of(generated_answer())}
    assert by_name["cache"] == {"cache.hit": "miss", "cache.outcome": "miss", "cache.score": 0.5}
    assert by_name["cache_store"] == {"cache.outcome": "stored"}
    assert by_name["guard_input"]["guard.outcome"] == "redact"
    assert by_name["guard_input"]["guard.rails"] == "injection,pii"
    assert by_name["guard_input"]["guard.flagged"] == "pii"
    assert by_name["guard_documents"]["guard.outcome"] == "allow"
    assert by_name["retrieve"] == {"retrieve.top_score": 0.8, "retrieve.sources": 2}
    assert by_name["generate"]["tokens.prompt"] == 1200 and by_name["generate"]["tokens.completion"] == 30
    assert by_name["answer_policy"]["abstained"] is False


def test_a_cache_hit_has_no_retrieval_generation_or_policy_span() -> None:
    hit = generated_answer(
        cached="exact",
        usage=Usage(),
        latency_ms={"cache": 1.5, "retrieve": 0.0, "generate": 0.0, "total": 2.0},
        decisions=[decision("cache", "exact", "hit", 1.0)],
    )
    spans = spans_of(hit)
    assert [s["name"] for s in spans] == [ROOT_SPAN, "cache"]
    assert spans[0]["attributes"]["outcome"] == "cached"
    assert spans[1]["attributes"]["cache.hit"] == "exact"
    assert spans[0]["attributes"]["cost.usd"] == 0.0


def test_a_blocked_question_has_the_input_guard_span_with_its_decision() -> None:
    blocked = generated_answer(
        blocked=True,
        abstained=True,
        generated=False,
        usage=Usage(),
        latency_ms={"guard_input": 3.0, "retrieve": 0.0, "generate": 0.0, "total": 3.5},
        decisions=[decision("input", "injection", "block", 0.97)],
    )
    spans = spans_of(blocked)
    assert [s["name"] for s in spans] == [ROOT_SPAN, "guard_input"]
    assert spans[0]["attributes"]["outcome"] == "blocked"
    guard = spans[1]["attributes"]
    assert guard["guard.outcome"] == "block" and guard["guard.flagged"] == "injection"
    assert guard["guard.score"] == pytest.approx(0.97)


def test_an_abstention_before_generating_has_retrieval_and_policy_but_no_generation() -> None:
    abstained = generated_answer(
        abstained=True,
        generated=False,
        usage=Usage(),
        latency_ms={"retrieve": 8.0, "generate": 0.0, "total": 9.0},
    )
    assert list(stage_durations(abstained)) == ["retrieve", "answer_policy"]
    assert stage_durations(abstained)["answer_policy"] == pytest.approx(1.0)


def test_the_policy_span_is_never_negative() -> None:
    # Rounded stage times can add up to a little more than the total.
    odd = generated_answer(latency_ms={"retrieve": 10.0, "generate": 20.0, "total": 29.5})
    durations = stage_durations(odd)
    assert durations["answer_policy"] == 0.0
    spans = spans_of(odd)
    assert spans[0]["start_ns"] == END_NS - 30_000_000  # the root covers its children
    assert all(s["start_ns"] <= s["end_ns"] <= END_NS for s in spans)


def test_guard_attributes_of_no_decision_is_allow() -> None:
    assert guard_attributes([]) == {"guard.outcome": "allow", "guard.rails": "", "guard.flagged": ""}


def test_a_trace_id_that_is_not_a_uuid_is_refused() -> None:
    with pytest.raises(ValueError):
        spans_of(generated_answer(), trace_id="not-a-uuid")
