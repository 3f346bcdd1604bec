"""API items turned into the plain rows the admin templates show.

The API is another helper's code and evolves; every field is read defensively here, so a missing
or odd value shows as blank instead of breaking the page.
"""

from __future__ import annotations

import math
from typing import Any

STAGES = ("retrieve", "generate", "total")


def _num(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _items(data: Any) -> list[dict[str, Any]]:
    items = data.get("items") if isinstance(data, dict) else None
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def trace_row(item: dict[str, Any]) -> dict[str, Any]:
    raw_latency = item.get("latency_ms")
    latency: dict[str, Any] = raw_latency if isinstance(raw_latency, dict) else {}
    return {
        "trace_id": _text(item.get("trace_id")),
        "created_at": item.get("created_at"),
        "collection": _text(item.get("collection")),
        "question": _text(item.get("question")),
        "answer": _text(item.get("answer")),
        "abstained": bool(item.get("abstained")),
        "reason": _text(item.get("reason")),
        "confidence": _num(item.get("confidence")),
        "latency": {stage: _num(latency.get(stage)) for stage in STAGES},
        "n_feedback": int(_num(item.get("n_feedback")) or 0),
    }


def source_row(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "n": _text(item.get("n")),
        "doc_id": _text(item.get("doc_id")),
        "title": _text(item.get("title")),
        "snippet": _text(item.get("snippet")),
        "score": _num(item.get("score")),
    }


def feedback_row(item: dict[str, Any]) -> dict[str, Any]:
    rating = _num(item.get("rating"))
    return {
        "id": _text(item.get("id")),
        "trace_id": _text(item.get("trace_id")),
        "signal": _text(item.get("signal")),
        "rating": "" if rating is None else f"{rating:g}",
        "comment": _text(item.get("comment")),
        "correction": _text(item.get("correction")),
        "created_at": item.get("created_at"),
        "question": _text(item.get("question")),
        "answer": _text(item.get("answer")),
    }


def report_row(item: dict[str, Any]) -> dict[str, str] | None:
    """A report link; only same-site paths are kept, so a bad URL can never point the admin elsewhere."""
    url, name = _text(item.get("url")), _text(item.get("name"))
    if not url.startswith("/") or url.startswith("//") or "\\" in url:
        return None
    return {"name": name or url, "url": url}


def trace_rows(data: Any) -> list[dict[str, Any]]:
    return [trace_row(item) for item in _items(data)]


def feedback_rows(data: Any) -> list[dict[str, Any]]:
    return [feedback_row(item) for item in _items(data)]


def report_rows(data: Any) -> list[dict[str, str]]:
    return [row for item in _items(data) if (row := report_row(item)) is not None]


def trace_detail(data: Any) -> dict[str, Any]:
    item = data if isinstance(data, dict) else {}
    row = trace_row(item)

    def rows(key: str) -> list[dict[str, Any]]:
        value = item.get(key)
        return [source_row(s) for s in value if isinstance(s, dict)] if isinstance(value, list) else []

    feedback = item.get("feedback")
    row["citations"] = rows("citations")
    row["sources"] = rows("sources")
    row["feedback"] = (
        [feedback_row(f) for f in feedback if isinstance(f, dict)] if isinstance(feedback, list) else []
    )
    return row


def latency_scale(rows: list[dict[str, Any]]) -> float:
    """The longest stage time shown: every bar on the page is drawn against it."""
    values = [v for row in rows for v in row["latency"].values() if v is not None]
    return max(values, default=0.0)
