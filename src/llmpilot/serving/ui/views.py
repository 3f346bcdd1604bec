"""API answers (validated with the API's own response models) turned into the plain rows the admin
templates show. A number the templates draw as a bar or percentage is None when it is not finite."""

from __future__ import annotations

import math
from typing import Any

from llmpilot.serving.schemas import (
    CitationOut,
    FeedbackItem,
    FeedbackList,
    ReportItem,
    ReportList,
    TraceDetail,
    TraceItem,
    TraceList,
)

STAGES = ("retrieve", "generate", "total")


def _num(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def trace_row(item: TraceItem) -> dict[str, Any]:
    latency = item.latency_ms
    return {
        "trace_id": item.trace_id,
        "created_at": item.created_at,
        "collection": item.collection,
        "question": item.question,
        "answer": item.answer,
        "abstained": item.abstained,
        "reason": item.reason if isinstance(item, TraceDetail) else "",
        "confidence": _num(item.confidence),
        "latency": {stage: _num(getattr(latency, stage)) for stage in STAGES},
        "n_feedback": item.n_feedback,
    }


def source_row(item: CitationOut) -> dict[str, Any]:
    return {
        "n": str(item.n),
        "doc_id": item.doc_id,
        "title": item.title,
        "snippet": item.snippet,
        "highlights": [list(span) for span in item.highlights],
        "score": _num(item.score),
    }


def feedback_row(item: FeedbackItem) -> dict[str, Any]:
    return {
        "id": str(item.id),
        "trace_id": item.trace_id,
        "signal": item.signal,
        "rating": "" if item.rating is None else f"{item.rating:g}",
        "comment": item.comment or "",
        "correction": item.correction or "",
        "created_at": item.created_at,
        "question": item.question,
        "answer": item.answer,
    }


def report_row(item: ReportItem) -> dict[str, str] | None:
    """A report link; only same-site paths are kept, so a bad URL can never point the admin elsewhere."""
    url, name = item.url, item.name
    if not url.startswith("/") or url.startswith("//") or "\\" in url:
        return None
    return {"name": name or url, "url": url}


def trace_rows(data: TraceList | None) -> list[dict[str, Any]]:
    return [trace_row(item) for item in data.items] if data is not None else []


def feedback_rows(data: FeedbackList | None) -> list[dict[str, Any]]:
    return [feedback_row(item) for item in data.items] if data is not None else []


def report_rows(data: ReportList | None) -> list[dict[str, str]]:
    return [row for item in data.items if (row := report_row(item)) is not None] if data is not None else []


def trace_detail(data: TraceDetail) -> dict[str, Any]:
    row = trace_row(data)
    row["citations"] = [source_row(c) for c in data.citations]
    row["sources"] = [source_row(c) for c in data.sources]
    row["feedback"] = [feedback_row(f) for f in data.feedback]
    # Cache and guardrail decisions, in order (plain dicts from the trace's details).
    row["decisions"] = [d for d in data.details.get("decisions", []) if isinstance(d, dict)]
    return row


def latency_scale(rows: list[dict[str, Any]]) -> float:
    """The longest stage time shown: every bar on the page is drawn against it."""
    values = [v for row in rows for v in row["latency"].values() if v is not None]
    return max(values, default=0.0)
