"""The review queue: what users said was wrong (a correction, a thumbs-down, a low rating) and what the
service could not answer (abstained) become candidate eval items; a reviewer approves them into the
project's eval set, with provenance, or rejects them.

A candidate carries a proposed reference (the user's correction) and proposed source documents: the
stored documents that the correction's words point to, found by the project's own retrieval, so the
reviewer confirms a source instead of looking one up.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from llmpilot.errors import LlmpilotError
from llmpilot.monitoring.evalset import EvalItem, append_eval_item, eval_set_path, load_eval_set
from llmpilot.monitoring.store import MonitorStore
from llmpilot.project import Project
from llmpilot.store import schema
from llmpilot.store.db import Store

if TYPE_CHECKING:
    from llmpilot.pipeline import Pipeline

log = logging.getLogger("llmpilot.monitoring")

#: A rating at or under this (1-5) makes the answer a review candidate.
LOW_RATING = 2
#: Stored documents proposed as the source of a correction.
PROPOSED_SOURCES = 1

#: question text -> ranked stored document ids (the project's retrieval), to propose sources.
SearchDocs = Callable[[str], list[str]]


def review_reason(signal: str, rating: int | None, correction: str | None) -> str | None:
    """Which review reason a feedback signal is, or None when it is not one."""
    if (correction or "").strip():
        return "correction"
    if signal == "thumbs_down":
        return "thumbs_down"
    if signal == "rating" and rating is not None and rating <= LOW_RATING:
        return "low_rating"
    return None


def document_search(pipeline: Pipeline) -> SearchDocs:
    """Document ids ranked by `pipeline`'s retrieval (a served collection's, already loaded)."""

    def search(text: str) -> list[str]:
        return list(dict.fromkeys(h.chunk.doc_id for h in pipeline.search(text, 5)))

    return search


def pipeline_search(project: Project) -> SearchDocs:
    """`document_search` over the project's pipeline, built on the first call."""
    from llmpilot.pipeline import Pipeline

    built: list[SearchDocs] = []

    def search(text: str) -> list[str]:
        if not built:
            built.append(document_search(Pipeline(project)))
        return built[0](text)

    return search


def propose_sources(question: str, correction: str | None, search: SearchDocs | None) -> list[str]:
    """The stored documents a correction points to: retrieval on the correction with the question
    (the correction alone is often a bare figure); none without a correction or a search."""
    if search is None or not (correction or "").strip():
        return []
    try:
        return search(f"{question}\n{correction}")[:PROPOSED_SOURCES]
    except Exception:  # proposing is a convenience: a failed search must not lose the feedback
        log.exception("could not propose sources for a review item")
        return []


def add_from_feedback(
    store: Store,
    *,
    tenant: str,
    trace_id: str,
    signal: str,
    rating: int | None = None,
    correction: str | None = None,
    search: SearchDocs | None = None,
) -> int | None:
    """Queue the trace for review when this feedback is a review reason; returns the item id."""
    reason = review_reason(signal, rating, correction)
    if reason is None:
        return None
    t = schema.traces
    with store.engine.connect() as conn:
        row = conn.execute(select(t).where(t.c.id == trace_id, t.c.tenant == tenant)).first()
    if row is None:
        return None
    item_id, _created = MonitorStore(store).add_review_item(
        trace_id=trace_id,
        tenant=tenant,
        collection=row.collection,
        reason=reason,
        question=row.question,
        answer=row.answer,
        proposed_answer=(correction or "").strip() or None,
        proposed_doc_ids=propose_sources(row.question, correction, search),
    )
    return item_id


def collect(
    store: Store,
    *,
    tenant: str | None = None,
    since: datetime | None = None,
    search: SearchDocs | None = None,
) -> dict[str, int]:
    """Scan feedback and abstained answers (of `tenant`, since `since`) into the queue; idempotent
    (one item per trace). Returns how many items each reason added."""
    f, t = schema.feedback, schema.traces
    added = {"correction": 0, "thumbs_down": 0, "low_rating": 0, "abstained": 0}
    fq = select(f).order_by(f.c.id)
    tq = select(t).where(t.c.abstained == 1).order_by(t.c.created_at)
    if tenant:
        fq = fq.where(f.c.tenant == tenant)
        tq = tq.where(t.c.tenant == tenant)
    if since:
        fq = fq.where(f.c.created_at >= since)
        tq = tq.where(t.c.created_at >= since)
    with store.engine.connect() as conn:
        feedback = conn.execute(fq).all()
        abstained = conn.execute(tq).all()
    monitor = MonitorStore(store)
    known = {item["trace_id"] for item in monitor.review_items(status=None, limit=1_000_000)}
    for row in feedback:
        reason = review_reason(row.signal, row.rating, row.correction)
        if reason is None:
            continue
        new = row.trace_id not in known
        add_from_feedback(
            store,
            tenant=row.tenant,
            trace_id=row.trace_id,
            signal=row.signal,
            rating=row.rating,
            correction=row.correction,
            search=search,
        )
        if new:
            added[reason] += 1
            known.add(row.trace_id)
    for row in abstained:
        if row.id in known or _blocked(row):
            continue  # a refused request (guardrails) is not a question the documents should answer
        monitor.add_review_item(
            trace_id=row.id,
            tenant=row.tenant,
            collection=row.collection,
            reason="abstained",
            question=row.question,
            answer=row.answer,
            proposed_answer=None,
            proposed_doc_ids=[],
        )
        known.add(row.id)
        added["abstained"] += 1
    return added


def _blocked(trace_row: Any) -> bool:
    try:
        return bool(json.loads(trace_row.details_json).get("blocked"))
    except (TypeError, ValueError):
        return False


def approve(
    project: Project,
    item_id: int,
    *,
    reviewer: str,
    answer: str | None = None,
    doc_ids: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Write the item to the eval set (reference = `answer`, else the user's correction; sources =
    `doc_ids`, else the proposed ones) with its provenance, and mark it approved. Returns the eval
    item as written. Safe to repeat after a crash between the two steps."""
    monitor = MonitorStore(project.store)
    item = _pending(monitor, item_id)
    reference = (answer if answer is not None else item["proposed_answer"]) or None
    sources = [d for d in (doc_ids if doc_ids is not None else item["proposed_doc_ids"]) if d]
    if not reference and not sources:
        raise LlmpilotError(
            f"review item {item_id} has no reference answer and no source document: give the answer "
            "(--answer) and/or the stored document that answers it (--doc-id)"
        )
    unknown = _unknown_documents(project.store, sources)
    if unknown:
        raise LlmpilotError(
            f"review item {item_id}: no stored document {', '.join(map(repr, unknown))} "
            "(see `llmpilot search` for document ids)"
        )
    eval_item = EvalItem(
        id=f"review-{item_id}",
        question=item["question"],
        answer=reference,
        doc_ids=sources,
        provenance={
            "source": "review",
            "reason": item["reason"],
            "trace_id": item["trace_id"],
            "review_item": item_id,
            "answer_given": item["answer"],
            "approved_by": reviewer,
            "approved_at": datetime.now(UTC).isoformat(),
        },
    )
    path = eval_set_path(project)
    already = path.exists() and any(e.id == eval_item.id for e in load_eval_set(path))
    if not already:
        append_eval_item(path, eval_item)
    monitor.decide_review_item(
        item_id,
        status="approved",
        reviewer=reviewer,
        eval_item_id=eval_item.id,
        answer=reference,
        doc_ids=sources,
    )
    return eval_item.as_json()


def reject(project: Project, item_id: int, *, reviewer: str) -> None:
    monitor = MonitorStore(project.store)
    _pending(monitor, item_id)
    monitor.decide_review_item(item_id, status="rejected", reviewer=reviewer)


def _pending(monitor: MonitorStore, item_id: int) -> dict[str, Any]:
    item = monitor.review_item(item_id)
    if item is None:
        raise ReviewItemNotFound(f"no review item {item_id} (see `llmpilot review list`)")
    if item["status"] != "pending":
        raise ReviewItemDecided(
            f"review item {item_id} was already {item['status']} by {item['reviewer'] or 'someone'}"
        )
    return item


def _unknown_documents(store: Store, doc_ids: Sequence[str]) -> list[str]:
    if not doc_ids:
        return []
    d = schema.documents
    with store.engine.connect() as conn:
        found = {r.id for r in conn.execute(select(d.c.id).where(d.c.id.in_(list(doc_ids))))}
    return [doc for doc in doc_ids if doc not in found]


class ReviewItemNotFound(LlmpilotError):
    """No review item with that id (the API answers 404)."""


class ReviewItemDecided(LlmpilotError):
    """The item was approved or rejected already (the API answers 409)."""


def recent(hours: float) -> datetime:
    return datetime.now(UTC) - timedelta(hours=hours)
