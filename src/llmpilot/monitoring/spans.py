"""One served answer as a trace: a root span "llmpilot.answer" and a child span per stage it ran.

The spans are plain dicts (name, ids, times, attributes) built from the `Answer` alone, so the
same spans feed the OpenTelemetry sinks (llmpilot.monitoring.otel), the Prometheus metrics
(llmpilot.monitoring.metrics) and the stored trace metadata, and all three agree.

The stages did not record wall-clock start times, only durations (`Answer.latency_ms`), so the child
spans are laid out one after the other in pipeline order, the root ending at `ended_at_ns`.
Questions and answer texts are never attributes: spans leave the process (a collector, a file).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from typing import Any

from llmpilot.types import Answer, Usage

ROOT_SPAN = "llmpilot.answer"
#: The stages in pipeline order; `answer_policy` is the time of the answer not in any other stage.
STAGES = (
    "cache",
    "guard_input",
    "retrieve",
    "guard_documents",
    "generate",
    "answer_policy",
    "guard_output",
    "cache_store",
)
#: Stage -> the `stage` of its guardrail decisions (llmpilot.guardrails.decisions).
GUARD_STAGES = {"guard_input": "input", "guard_documents": "documents", "guard_output": "output"}
#: Outcomes of a guardrail decision, the most severe last (the span shows the most severe).
_SEVERITY = ("allow", "warn", "redact", "abstain", "block")
OUTCOMES = ("answered", "abstained", "blocked", "cached", "quoted")

Attributes = dict[str, str | int | float | bool]


def outcome(answer: Answer) -> str:
    """What the user got: blocked (a guardrail refused), cached (served from the answer cache),
    abstained, quoted (the extractive fallback quoting the sources) or answered."""
    if answer.blocked:
        return "blocked"
    if answer.cached:
        return "cached"
    if answer.abstained:
        return "abstained"
    if answer.fallback:
        return "quoted"
    return "answered"


def cost_usd(usage: Usage, prices: tuple[float, float]) -> float:
    """Estimated cost of the tokens: `prices` are USD per 1000 prompt / completion tokens."""
    per_prompt, per_completion = prices
    return (usage.prompt_tokens * per_prompt + usage.completion_tokens * per_completion) / 1000.0


def stage_durations(answer: Answer) -> dict[str, float]:
    """Milliseconds per stage that ran, in pipeline order.

    `retrieve` and `generate` are always in `latency_ms` (0.0 when skipped: a cache hit, a refused
    question, an abstention before generating), so they count as run only when they took time.
    `answer_policy` exists when retrieval ran (the policy decides on what was retrieved)."""
    latency = answer.latency_ms
    ran: dict[str, float] = {}
    for stage in STAGES:
        if stage == "answer_policy":
            continue
        ms = latency.get(stage)
        if ms is None or (stage in ("retrieve", "generate") and ms <= 0.0):
            continue
        ran[stage] = max(0.0, float(ms))
    if "retrieve" in ran:
        total = float(latency.get("total", sum(ran.values())))
        ran["answer_policy"] = max(0.0, total - sum(ran.values()))
    return {stage: ran[stage] for stage in STAGES if stage in ran}


def _span_id() -> str:
    return secrets.token_hex(8)


def _clean(attributes: dict[str, Any]) -> Attributes:
    """OpenTelemetry attributes cannot be None: leave those out."""
    return {key: value for key, value in attributes.items() if value is not None}


def _decisions(answer: Answer, stage: str) -> list[dict[str, Any]]:
    return [d for d in answer.decisions if d.get("stage") == stage]


def guard_attributes(decisions: Sequence[dict[str, Any]]) -> Attributes:
    """The rails' verdict for one guard stage: the most severe outcome, which rails ran and which
    flagged something, and the highest score."""
    outcomes = [str(d.get("outcome", "allow")) for d in decisions]
    worst = max(outcomes, key=lambda o: _SEVERITY.index(o) if o in _SEVERITY else 0, default="allow")
    scores = [float(d["score"]) for d in decisions if d.get("score") is not None]
    return _clean(
        {
            "guard.outcome": worst,
            "guard.rails": ",".join(str(d.get("name", "")) for d in decisions),
            "guard.flagged": ",".join(
                str(d.get("name", "")) for d in decisions if d.get("outcome", "allow") != "allow"
            ),
            "guard.score": max(scores) if scores else None,
        }
    )


def _stage_attributes(stage: str, answer: Answer) -> Attributes:
    if stage == "cache":
        lookups = [d for d in _decisions(answer, "cache") if d.get("outcome") != "stored"]
        last = lookups[-1] if lookups else {}
        return _clean(
            {
                "cache.hit": answer.cached or "miss",
                "cache.outcome": last.get("outcome"),
                "cache.score": last.get("score"),
            }
        )
    if stage == "cache_store":
        stored = [d for d in _decisions(answer, "cache") if d.get("outcome") == "stored"]
        return {"cache.outcome": "stored" if stored else "skipped"}
    if stage in GUARD_STAGES:
        return guard_attributes(_decisions(answer, GUARD_STAGES[stage]))
    if stage == "retrieve":
        scores = [s.score for s in answer.sources]
        return _clean(
            {
                "retrieve.top_score": round(max(scores), 6) if scores else None,
                "retrieve.sources": len(answer.sources),
            }
        )
    if stage == "generate":
        return {
            "tokens.prompt": answer.usage.prompt_tokens,
            "tokens.completion": answer.usage.completion_tokens,
            "retried": answer.retried,
        }
    if stage == "answer_policy":
        return {
            "confidence": round(answer.confidence, 6),
            "abstained": answer.abstained,
            "support": round(answer.support, 6),
            "fallback": answer.fallback,
            "invalid_citations": answer.invalid_citations,
            "unsupported_sentences": len(answer.unsupported_sentences),
        }
    return {}


def answer_spans(
    answer: Answer,
    *,
    trace_id: str,
    tenant: str,
    collection: str,
    config_version: int | None,
    config_hash: str,
    variant: str,
    endpoint: str,
    ended_at_ns: int,
    prices: tuple[float, float],
) -> list[dict[str, Any]]:
    """The root span and one child per stage the answer ran, as dicts: name, span_id (16 hex),
    parent_span_id (None for the root), trace_id (32 hex: the API's uuid trace id without dashes),
    start_ns, end_ns, duration_ms, attributes."""
    trace_hex = uuid.UUID(trace_id).hex
    durations = stage_durations(answer)
    total_ms = max(float(answer.latency_ms.get("total", 0.0)), sum(durations.values()))
    start_ns = ended_at_ns - round(total_ms * 1e6)
    root_id = _span_id()
    root_attributes = _clean(
        {
            "tenant": tenant,
            "collection": collection,
            "config.version": config_version,
            "config.hash": config_hash,
            "variant": variant,
            "endpoint": endpoint,
            "outcome": outcome(answer),
            "confidence": round(answer.confidence, 6),
            "abstained": answer.abstained,
            "blocked": answer.blocked,
            "cached": answer.cached,
            "tokens.prompt": answer.usage.prompt_tokens,
            "tokens.completion": answer.usage.completion_tokens,
            "cost.usd": cost_usd(answer.usage, prices),
            "support": round(answer.support, 6),
            "lang": answer.lang,
            "fallback": answer.fallback,
        }
    )
    spans = [
        {
            "name": ROOT_SPAN,
            "span_id": root_id,
            "parent_span_id": None,
            "trace_id": trace_hex,
            "start_ns": start_ns,
            "end_ns": ended_at_ns,
            "duration_ms": round(total_ms, 3),
            "attributes": root_attributes,
        }
    ]
    cursor = start_ns
    for stage, ms in durations.items():
        end = cursor + round(ms * 1e6)
        spans.append(
            {
                "name": stage,
                "span_id": _span_id(),
                "parent_span_id": root_id,
                "trace_id": trace_hex,
                "start_ns": cursor,
                "end_ns": min(end, ended_at_ns),
                "duration_ms": round(ms, 3),
                "attributes": _stage_attributes(stage, answer),
            }
        )
        cursor = end
    return spans


def root_span(spans: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The span without a parent (None when `spans` holds none)."""
    return next((s for s in spans if s.get("parent_span_id") is None), None)
