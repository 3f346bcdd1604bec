"""Store methods of the monitoring loop (tables of migration m006_monitoring): per-trace spans and
config version, config versions and deployments, online experiments and shadow answers, alerts,
monitor runs, the review queue, queued jobs and watched sources.

One owner for these tables: every other module of llmpilot.monitoring reads and writes them here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, insert, select, update

from llmpilot.errors import LlmpilotError
from llmpilot.store import schema
from llmpilot.store.db import Store
from llmpilot.store.serving import iso

VERSION_STATUSES = ("candidate", "live", "retired", "rejected")
REVIEW_REASONS = ("correction", "thumbs_down", "low_rating", "abstained")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ConfigVersion:
    id: int
    config_hash: str
    config_yaml: str
    source: str
    note: str
    status: str
    created_by: str
    created_at: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.id,
            "config_hash": self.config_hash,
            "source": self.source,
            "note": self.note,
            "status": self.status,
            "created_by": self.created_by,
            "created_at": self.created_at,
        }


def _version(row: Any) -> ConfigVersion:
    return ConfigVersion(
        id=int(row.id),
        config_hash=row.config_hash,
        config_yaml=row.config_yaml,
        source=row.source,
        note=row.note,
        status=row.status,
        created_by=row.created_by,
        created_at=iso(row.created_at),
    )


class MonitorStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine

    # --- per-trace metadata ----------------------------------------------------------------------

    def add_trace_meta(
        self,
        trace_id: str,
        *,
        config_version: int | None,
        variant: str,
        spans: list[dict[str, Any]],
        tokens: int,
        cost_usd: float,
        experiment_id: int | None = None,
    ) -> None:
        t = schema.trace_meta
        values = {
            "config_version": config_version,
            "variant": variant,
            "experiment_id": experiment_id,
            "spans_json": _dumps(spans),
            "tokens": int(tokens),
            "cost_usd": float(cost_usd),
        }
        with self.engine.begin() as conn:
            if conn.execute(select(t.c.trace_id).where(t.c.trace_id == trace_id)).first():
                conn.execute(update(t).where(t.c.trace_id == trace_id).values(**values))
            else:
                conn.execute(insert(t).values(trace_id=trace_id, **values))

    def trace_meta(self, trace_id: str) -> dict[str, Any] | None:
        t = schema.trace_meta
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.trace_id == trace_id)).first()
        if row is None:
            return None
        return {
            "config_version": row.config_version,
            "variant": row.variant,
            "experiment_id": row.experiment_id,
            "spans": json.loads(row.spans_json),
            "tokens": row.tokens,
            "cost_usd": row.cost_usd,
        }

    # --- config versions -------------------------------------------------------------------------

    def add_version(
        self, config_hash: str, config_yaml: str, *, source: str, note: str = "", status: str, by: str
    ) -> ConfigVersion:
        if status not in VERSION_STATUSES:
            raise LlmpilotError(f"config version status must be one of {', '.join(VERSION_STATUSES)}")
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(schema.config_versions).values(
                    config_hash=config_hash,
                    config_yaml=config_yaml,
                    source=source,
                    note=note,
                    status=status,
                    created_by=by,
                    created_at=_now(),
                )
            )
            version_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        found = self.version(version_id)
        assert found is not None
        return found

    def version(self, version_id: int) -> ConfigVersion | None:
        v = schema.config_versions
        with self.engine.connect() as conn:
            row = conn.execute(select(v).where(v.c.id == version_id)).first()
        return _version(row) if row else None

    def versions(self) -> list[ConfigVersion]:
        v = schema.config_versions
        with self.engine.connect() as conn:
            return [_version(r) for r in conn.execute(select(v).order_by(v.c.id))]

    def live_version(self) -> ConfigVersion | None:
        v = schema.config_versions
        with self.engine.connect() as conn:
            row = conn.execute(select(v).where(v.c.status == "live").order_by(v.c.id.desc())).first()
        return _version(row) if row else None

    def live_version_id(self) -> int | None:
        """The live version's id (one cheap query: the server polls it to notice a promotion)."""
        v = schema.config_versions
        with self.engine.connect() as conn:
            value = conn.execute(select(func.max(v.c.id)).where(v.c.status == "live")).scalar()
        return int(value) if value is not None else None

    def version_by_hash(self, config_hash: str) -> ConfigVersion | None:
        v = schema.config_versions
        with self.engine.connect() as conn:
            row = conn.execute(
                select(v).where(v.c.config_hash == config_hash).order_by(v.c.id.desc())
            ).first()
        return _version(row) if row else None

    def make_live(self, version_id: int, *, action: str, actor: str, evidence: dict[str, Any]) -> int | None:
        """Mark `version_id` live (the live one before it retired) and record the deployment; returns
        the previous live version. One transaction: a crash leaves either the old or the new state."""
        v, d = schema.config_versions, schema.deployments
        with self.engine.begin() as conn:
            row = conn.execute(select(v.c.id).where(v.c.id == version_id)).first()
            if row is None:
                raise LlmpilotError(f"no config version {version_id} (see `llmpilot deploy list`)")
            previous = conn.execute(select(func.max(v.c.id)).where(v.c.status == "live")).scalar()
            conn.execute(update(v).where(v.c.status == "live").values(status="retired"))
            conn.execute(update(v).where(v.c.id == version_id).values(status="live"))
            conn.execute(
                insert(d).values(
                    action=action,
                    version=version_id,
                    previous_version=previous,
                    actor=actor,
                    evidence_json=_dumps(evidence),
                    created_at=_now(),
                )
            )
        return int(previous) if previous is not None else None

    def set_version_status(self, version_id: int, status: str) -> None:
        if status not in VERSION_STATUSES:
            raise LlmpilotError(f"config version status must be one of {', '.join(VERSION_STATUSES)}")
        v = schema.config_versions
        with self.engine.begin() as conn:
            conn.execute(update(v).where(v.c.id == version_id).values(status=status))

    def deployments(self) -> list[dict[str, Any]]:
        d = schema.deployments
        with self.engine.connect() as conn:
            rows = conn.execute(select(d).order_by(d.c.id)).all()
        return [
            {
                "id": r.id,
                "action": r.action,
                "version": r.version,
                "previous_version": r.previous_version,
                "actor": r.actor,
                "evidence": json.loads(r.evidence_json),
                "created_at": iso(r.created_at),
            }
            for r in rows
        ]

    # --- online experiments ----------------------------------------------------------------------

    def start_experiment(self, candidate: int, live: int, mode: str, fraction: float) -> int:
        e = schema.experiments
        with self.engine.begin() as conn:
            conn.execute(update(e).where(e.c.status == "running").values(status="stopped", stopped_at=_now()))
            result = conn.execute(
                insert(e).values(
                    candidate_version=candidate,
                    live_version=live,
                    mode=mode,
                    fraction=float(fraction),
                    status="running",
                    started_at=_now(),
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def running_experiment(self) -> dict[str, Any] | None:
        e = schema.experiments
        with self.engine.connect() as conn:
            row = conn.execute(select(e).where(e.c.status == "running").order_by(e.c.id.desc())).first()
        return _experiment(row) if row else None

    def experiment(self, experiment_id: int) -> dict[str, Any] | None:
        e = schema.experiments
        with self.engine.connect() as conn:
            row = conn.execute(select(e).where(e.c.id == experiment_id)).first()
        return _experiment(row) if row else None

    def experiments(self) -> list[dict[str, Any]]:
        e = schema.experiments
        with self.engine.connect() as conn:
            return [_experiment(r) for r in conn.execute(select(e).order_by(e.c.id))]

    def stop_experiment(self, experiment_id: int, result: dict[str, Any] | None = None) -> None:
        e = schema.experiments
        values: dict[str, Any] = {"status": "stopped", "stopped_at": _now()}
        if result is not None:
            values["result_json"] = _dumps(result)
        with self.engine.begin() as conn:
            conn.execute(update(e).where(e.c.id == experiment_id).values(**values))

    def add_shadow_answer(
        self,
        experiment_id: int,
        trace_id: str,
        config_version: int,
        answer: dict[str, Any],
        scores: dict[str, Any],
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(schema.shadow_answers).values(
                    experiment_id=experiment_id,
                    trace_id=trace_id,
                    config_version=config_version,
                    answer_json=_dumps(answer),
                    scores_json=_dumps(scores),
                    created_at=_now(),
                )
            )

    def shadow_pairs(self, experiment_id: int) -> list[dict[str, Any]]:
        """Each shadow answer with the live trace it mirrors (question, live answer, its meta)."""
        s, t = schema.shadow_answers, schema.traces
        query = (
            select(s, t.c.question, t.c.answer.label("live_answer"), t.c.abstained)
            .join(t, t.c.id == s.c.trace_id)
            .where(s.c.experiment_id == experiment_id)
            .order_by(s.c.id)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            {
                "trace_id": r.trace_id,
                "question": r.question,
                "live_answer": r.live_answer,
                "live_abstained": bool(r.abstained),
                "candidate": json.loads(r.answer_json),
                "scores": json.loads(r.scores_json),
                "created_at": iso(r.created_at),
            }
            for r in rows
        ]

    def experiment_traces(self, experiment_id: int) -> list[dict[str, Any]]:
        """Traces served during a split experiment: variant, abstained and the feedback they got."""
        m, t, f = schema.trace_meta, schema.traces, schema.feedback
        query = (
            select(
                m.c.trace_id,
                m.c.variant,
                m.c.spans_json,
                t.c.question,
                t.c.answer,
                t.c.abstained,
                t.c.confidence,
                t.c.citations_json,
                t.c.details_json,
            )
            .join(t, t.c.id == m.c.trace_id)
            .where(m.c.experiment_id == experiment_id)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            signals: dict[str, list[str]] = {}
            ids = [r.trace_id for r in rows]
            for i in range(0, len(ids), 500):
                for fr in conn.execute(
                    select(f.c.trace_id, f.c.signal, f.c.rating).where(f.c.trace_id.in_(ids[i : i + 500]))
                ):
                    label = fr.signal if fr.signal != "rating" else f"rating:{fr.rating}"
                    signals.setdefault(fr.trace_id, []).append(label)
        return [
            {
                "trace_id": r.trace_id,
                "variant": r.variant,
                "question": r.question,
                "answer": r.answer,
                "abstained": bool(r.abstained),
                "confidence": r.confidence,
                "citations": json.loads(r.citations_json),
                "support": json.loads(r.details_json).get("support", 1.0),
                "spans": json.loads(r.spans_json),
                "feedback": signals.get(r.trace_id, []),
            }
            for r in rows
        ]

    # --- alerts ----------------------------------------------------------------------------------

    def add_alert(
        self,
        kind: str,
        severity: str,
        collection: str,
        title: str,
        message: str,
        evidence: dict[str, Any],
        delivered: dict[str, Any],
    ) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(schema.alerts).values(
                    kind=kind,
                    severity=severity,
                    collection=collection,
                    title=title,
                    message=message,
                    evidence_json=_dumps(evidence),
                    delivered_json=_dumps(delivered),
                    created_at=_now(),
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def set_alert_delivery(self, alert_id: int, delivered: dict[str, Any]) -> None:
        a = schema.alerts
        with self.engine.begin() as conn:
            conn.execute(update(a).where(a.c.id == alert_id).values(delivered_json=_dumps(delivered)))

    def alerts(self, limit: int = 100, collection: str | None = None) -> list[dict[str, Any]]:
        a = schema.alerts
        query = select(a).order_by(a.c.id.desc()).limit(limit)
        if collection:
            query = query.where(a.c.collection == collection)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            {
                "id": r.id,
                "kind": r.kind,
                "severity": r.severity,
                "collection": r.collection,
                "title": r.title,
                "message": r.message,
                "evidence": json.loads(r.evidence_json),
                "delivered": json.loads(r.delivered_json),
                "created_at": iso(r.created_at),
                "acknowledged_at": iso(r.acknowledged_at),
            }
            for r in rows
        ]

    def acknowledge_alert(self, alert_id: int) -> bool:
        a = schema.alerts
        with self.engine.begin() as conn:
            result = conn.execute(
                update(a)
                .where(a.c.id == alert_id, a.c.acknowledged_at.is_(None))
                .values(acknowledged_at=_now())
            )
        return bool(result.rowcount)

    # --- monitor runs ----------------------------------------------------------------------------

    def start_monitor_run(
        self, kind: str, collection: str, config_version: int | None, config_hash: str
    ) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(schema.monitor_runs).values(
                    kind=kind,
                    collection=collection,
                    config_version=config_version,
                    config_hash=config_hash,
                    status="running",
                    summary_json="{}",
                    items_json="[]",
                    started_at=_now(),
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def finish_monitor_run(
        self,
        run_id: int,
        *,
        status: str,
        summary: dict[str, Any],
        items: list[dict[str, Any]],
        baseline_id: int | None = None,
    ) -> None:
        r = schema.monitor_runs
        with self.engine.begin() as conn:
            conn.execute(
                update(r)
                .where(r.c.id == run_id)
                .values(
                    status=status,
                    summary_json=_dumps(summary),
                    items_json=_dumps(items),
                    baseline_id=baseline_id,
                    finished_at=_now(),
                )
            )

    def monitor_runs(
        self, kind: str | None = None, collection: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Finished and running monitor runs, newest first (without their per-item scores)."""
        r = schema.monitor_runs
        query = select(r).order_by(r.c.id.desc()).limit(limit)
        if kind:
            query = query.where(r.c.kind == kind)
        if collection:
            query = query.where(r.c.collection == collection)
        with self.engine.connect() as conn:
            return [_run(row, items=False) for row in conn.execute(query)]

    def monitor_run(self, run_id: int) -> dict[str, Any] | None:
        r = schema.monitor_runs
        with self.engine.connect() as conn:
            row = conn.execute(select(r).where(r.c.id == run_id)).first()
        return _run(row, items=True) if row else None

    def baseline_run(self, kind: str, collection: str, *, before: int | None = None) -> dict[str, Any] | None:
        """The newest finished run of `kind` for `collection` (before run id `before`), with items."""
        r = schema.monitor_runs
        conditions = [r.c.kind == kind, r.c.collection == collection, r.c.status == "done"]
        if before is not None:
            conditions.append(r.c.id < before)
        with self.engine.connect() as conn:
            row = conn.execute(select(r).where(and_(*conditions)).order_by(r.c.id.desc())).first()
        return _run(row, items=True) if row else None

    # --- review queue ----------------------------------------------------------------------------

    def add_review_item(
        self,
        *,
        trace_id: str,
        tenant: str,
        collection: str,
        reason: str,
        question: str,
        answer: str,
        proposed_answer: str | None,
        proposed_doc_ids: list[str],
    ) -> tuple[int, bool]:
        """(id, created): one candidate per trace; a later, stronger signal (a correction after a
        thumbs-down) updates a pending one instead of adding a second."""
        if reason not in REVIEW_REASONS:
            raise LlmpilotError(f"review reason must be one of {', '.join(REVIEW_REASONS)}")
        q = schema.review_items
        with self.engine.begin() as conn:
            row = conn.execute(select(q).where(q.c.trace_id == trace_id)).first()
            if row is not None:
                stronger = REVIEW_REASONS.index(reason) < REVIEW_REASONS.index(row.reason)
                if row.status == "pending" and (stronger or (proposed_answer and not row.proposed_answer)):
                    conn.execute(
                        update(q)
                        .where(q.c.id == row.id)
                        .values(
                            reason=reason if stronger else row.reason,
                            proposed_answer=proposed_answer or row.proposed_answer,
                            proposed_doc_ids_json=_dumps(proposed_doc_ids)
                            if proposed_doc_ids
                            else row.proposed_doc_ids_json,
                        )
                    )
                return int(row.id), False
            result = conn.execute(
                insert(q).values(
                    trace_id=trace_id,
                    tenant=tenant,
                    collection=collection,
                    reason=reason,
                    question=question,
                    answer=answer,
                    proposed_answer=proposed_answer,
                    proposed_doc_ids_json=_dumps(proposed_doc_ids),
                    status="pending",
                    created_at=_now(),
                )
            )
            return int(result.inserted_primary_key[0]), True  # type: ignore[index]

    def review_items(
        self, status: str | None = "pending", tenant: str | None = None, limit: int = 200
    ) -> list[dict[str, Any]]:
        q = schema.review_items
        query = select(q).order_by(q.c.id).limit(limit)
        if status:
            query = query.where(q.c.status == status)
        if tenant:
            query = query.where(q.c.tenant == tenant)
        with self.engine.connect() as conn:
            return [_review(r) for r in conn.execute(query)]

    def review_item(self, item_id: int) -> dict[str, Any] | None:
        q = schema.review_items
        with self.engine.connect() as conn:
            row = conn.execute(select(q).where(q.c.id == item_id)).first()
        return _review(row) if row else None

    def decide_review_item(
        self,
        item_id: int,
        *,
        status: str,
        reviewer: str,
        eval_item_id: str | None = None,
        answer: str | None = None,
        doc_ids: list[str] | None = None,
    ) -> None:
        q = schema.review_items
        values: dict[str, Any] = {
            "status": status,
            "reviewer": reviewer,
            "eval_item_id": eval_item_id,
            "decided_at": _now(),
        }
        if answer is not None:
            values["proposed_answer"] = answer
        if doc_ids is not None:
            values["proposed_doc_ids_json"] = _dumps(doc_ids)
        with self.engine.begin() as conn:
            conn.execute(update(q).where(q.c.id == item_id).values(**values))

    # --- jobs and watched sources -----------------------------------------------------------------

    def queue_job(self, kind: str, reason: str, payload: dict[str, Any] | None = None) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(schema.jobs).values(
                    kind=kind,
                    reason=reason,
                    payload_json=_dumps(payload or {}),
                    status="queued",
                    created_at=_now(),
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def queued_jobs(self, kind: str | None = None) -> list[dict[str, Any]]:
        j = schema.jobs
        query = select(j).where(j.c.status == "queued").order_by(j.c.id)
        if kind:
            query = query.where(j.c.kind == kind)
        with self.engine.connect() as conn:
            return [
                {
                    "id": r.id,
                    "kind": r.kind,
                    "reason": r.reason,
                    "payload": json.loads(r.payload_json),
                    "created_at": iso(r.created_at),
                }
                for r in conn.execute(query)
            ]

    def finish_jobs(self, job_ids: list[int]) -> None:
        if not job_ids:
            return
        j = schema.jobs
        with self.engine.begin() as conn:
            conn.execute(update(j).where(j.c.id.in_(job_ids)).values(status="done", finished_at=_now()))

    def watch_source(self, key: str, kind: str, spec: dict[str, Any]) -> None:
        w = schema.watched_sources
        with self.engine.begin() as conn:
            if conn.execute(select(w.c.key).where(w.c.key == key)).first() is None:
                conn.execute(insert(w).values(key=key, kind=kind, spec_json=_dumps(spec), added_at=_now()))

    def watched_sources(self) -> list[dict[str, Any]]:
        w = schema.watched_sources
        with self.engine.connect() as conn:
            return [
                {
                    "key": r.key,
                    "kind": r.kind,
                    "spec": json.loads(r.spec_json),
                    "added_at": iso(r.added_at),
                    "last_synced_at": iso(r.last_synced_at),
                }
                for r in conn.execute(select(w).order_by(w.c.added_at, w.c.key))
            ]

    def touch_watched(self, keys: list[str]) -> None:
        w = schema.watched_sources
        with self.engine.begin() as conn:
            conn.execute(update(w).where(w.c.key.in_(keys)).values(last_synced_at=_now()))


def _experiment(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "candidate_version": row.candidate_version,
        "live_version": row.live_version,
        "mode": row.mode,
        "fraction": row.fraction,
        "status": row.status,
        "started_at": iso(row.started_at),
        "stopped_at": iso(row.stopped_at),
        "result": json.loads(row.result_json) if row.result_json else None,
    }


def _run(row: Any, *, items: bool) -> dict[str, Any]:
    out = {
        "id": row.id,
        "kind": row.kind,
        "collection": row.collection,
        "config_version": row.config_version,
        "config_hash": row.config_hash,
        "status": row.status,
        "baseline_id": row.baseline_id,
        "summary": json.loads(row.summary_json),
        "started_at": iso(row.started_at),
        "finished_at": iso(row.finished_at),
    }
    if items:
        out["items"] = json.loads(row.items_json)
    return out


def _review(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "trace_id": row.trace_id,
        "tenant": row.tenant,
        "collection": row.collection,
        "reason": row.reason,
        "question": row.question,
        "answer": row.answer,
        "proposed_answer": row.proposed_answer,
        "proposed_doc_ids": json.loads(row.proposed_doc_ids_json),
        "status": row.status,
        "reviewer": row.reviewer,
        "eval_item_id": row.eval_item_id,
        "created_at": iso(row.created_at),
        "decided_at": iso(row.decided_at),
    }
