"""Store methods of the server: API keys (hashed), answer traces and user feedback, per tenant.

Every read takes the tenant: isolation is enforced in the queries, not left to the callers.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from sqlalchemy import func, insert, select, update

from llmpilot.errors import LlmpilotError
from llmpilot.store import schema
from llmpilot.store.db import Store

Role = Literal["user", "admin"]
ROLES: tuple[Role, ...] = ("user", "admin")
KEY_PREFIX = "lp_"

#: Explicit and implicit feedback signals accepted by the API (the API schema uses the Literal).
Signal = Literal[
    "thumbs_up",
    "thumbs_down",
    "rating",
    "comment",
    "correction",
    "copied",
    "regenerated",
    "followup",
    "abandoned",
]
SIGNALS: tuple[str, ...] = get_args(Signal)


@dataclass(frozen=True)
class ApiKey:
    id: int
    tenant: str
    role: Role
    name: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass(frozen=True)
class TraceRecord:
    tenant: str
    collection: str
    question: str
    answer: str
    abstained: bool
    reason: str
    confidence: float
    citations: list[dict[str, Any]]
    sources: list[dict[str, Any]]
    latency_ms: dict[str, float]
    details: dict[str, Any]
    config_hash: str
    id: str = ""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything is written in UTC.
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def iso(value: datetime | None) -> str | None:
    v = _utc(value)
    return v.isoformat() if v else None


def _key(row: Any) -> ApiKey:
    return ApiKey(
        id=row.id,
        tenant=row.tenant,
        role=row.role,
        name=row.name,
        created_at=_utc(row.created_at) or datetime.now(UTC),
        revoked_at=_utc(row.revoked_at),
    )


class ServingStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine

    # --- API keys --------------------------------------------------------------------------

    def create_key(self, tenant: str, role: str = "user", name: str = "") -> tuple[ApiKey, str]:
        """A new key for `tenant`; returns the record and the key, which is not stored (only its hash)."""
        tenant = tenant.strip()
        if not tenant:
            raise LlmpilotError("--tenant must not be empty")
        if role not in ROLES:
            raise LlmpilotError(f"--role must be one of {', '.join(ROLES)}, got {role!r}")
        key = new_key()
        now = datetime.now(UTC)
        name = name or f"{tenant}-{role}"
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(schema.api_keys).values(
                    tenant=tenant, role=role, name=name, key_hash=hash_key(key), created_at=now
                )
            )
            key_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        stored = self.key_by_id(key_id)
        assert stored is not None
        return stored, key

    def list_keys(self) -> list[ApiKey]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(schema.api_keys).order_by(schema.api_keys.c.id))
            return [_key(r) for r in rows]

    def key_for_secret(self, key: str) -> ApiKey | None:
        """The key record for a presented key (revoked ones included, so callers can say so)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(schema.api_keys).where(schema.api_keys.c.key_hash == hash_key(key))
            ).first()
        return _key(row) if row else None

    def key_by_id(self, key_id: int) -> ApiKey | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(schema.api_keys).where(schema.api_keys.c.id == key_id)).first()
        return _key(row) if row else None

    def revoke_key(self, key_id: int) -> ApiKey:
        with self.engine.begin() as conn:
            row = conn.execute(select(schema.api_keys).where(schema.api_keys.c.id == key_id)).first()
            if row is None:
                raise LlmpilotError(f"no API key with id {key_id} (see `llmpilot keys list`)")
            if row.revoked_at is None:
                conn.execute(
                    update(schema.api_keys)
                    .where(schema.api_keys.c.id == key_id)
                    .values(revoked_at=datetime.now(UTC))
                )
        revoked = self.key_by_id(key_id)
        assert revoked is not None
        return revoked

    # --- traces ----------------------------------------------------------------------------

    def add_trace(self, trace: TraceRecord) -> str:
        trace_id = trace.id or str(uuid.uuid4())
        with self.engine.begin() as conn:
            conn.execute(
                insert(schema.traces).values(
                    id=trace_id, created_at=datetime.now(UTC), **_trace_values(trace)
                )
            )
        return trace_id

    def update_trace(self, trace: TraceRecord) -> None:
        """Rewrite a trace saved earlier (a streamed answer is saved when it starts, then completed)."""
        t = schema.traces
        with self.engine.begin() as conn:
            conn.execute(
                update(t).where(t.c.id == trace.id, t.c.tenant == trace.tenant).values(**_trace_values(trace))
            )

    def traces(self, tenant: str, limit: int = 50) -> list[dict[str, Any]]:
        """The tenant's latest traces, newest first, with how much feedback each got."""
        t, f = schema.traces, schema.feedback
        n_feedback = (
            select(func.count(f.c.id)).where(f.c.trace_id == t.c.id).scalar_subquery().label("n_feedback")
        )
        query = select(t, n_feedback).where(t.c.tenant == tenant).order_by(t.c.created_at.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [_trace_summary(r) for r in conn.execute(query)]

    def trace(self, tenant: str, trace_id: str) -> dict[str, Any] | None:
        """One trace with citations, sources, details and its feedback; None if not the tenant's."""
        t = schema.traces
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.id == trace_id, t.c.tenant == tenant)).first()
        if row is None:
            return None
        feedback = self.feedback(tenant, limit=1000, trace_id=trace_id)
        item = _trace_summary(row, n_feedback=len(feedback))
        item["reason"] = row.reason
        item["citations"] = json.loads(row.citations_json)
        item["sources"] = json.loads(row.sources_json)
        item["details"] = json.loads(row.details_json)
        item["config_hash"] = row.config_hash
        item["feedback"] = feedback
        return item

    def has_trace(self, tenant: str, trace_id: str) -> bool:
        t = schema.traces
        with self.engine.connect() as conn:
            return (
                conn.execute(select(t.c.id).where(t.c.id == trace_id, t.c.tenant == tenant)).first()
                is not None
            )

    # --- feedback --------------------------------------------------------------------------

    def add_feedback(
        self,
        tenant: str,
        trace_id: str,
        signal: str,
        *,
        rating: int | None = None,
        comment: str | None = None,
        correction: str | None = None,
    ) -> int | None:
        """Record a signal on one of the tenant's traces; None when that trace is not the tenant's."""
        if signal not in SIGNALS:
            raise LlmpilotError(f"signal must be one of {', '.join(SIGNALS)}, got {signal!r}")
        t = schema.traces
        with self.engine.begin() as conn:
            owned = conn.execute(select(t.c.id).where(t.c.id == trace_id, t.c.tenant == tenant)).first()
            if owned is None:
                return None
            result = conn.execute(
                insert(schema.feedback).values(
                    trace_id=trace_id,
                    tenant=tenant,
                    signal=signal,
                    rating=rating,
                    comment=comment,
                    correction=correction,
                    created_at=datetime.now(UTC),
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def feedback(
        self, tenant: str, limit: int = 50, signal: str | None = None, trace_id: str | None = None
    ) -> list[dict[str, Any]]:
        """The tenant's feedback, newest first, with the question and answer it is about."""
        f, t = schema.feedback, schema.traces
        query = (
            select(f, t.c.question, t.c.answer)
            .join(t, t.c.id == f.c.trace_id)
            .where(f.c.tenant == tenant, t.c.tenant == tenant)
        )
        if signal:
            query = query.where(f.c.signal == signal)
        if trace_id:
            query = query.where(f.c.trace_id == trace_id)
        query = query.order_by(f.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [
                {
                    "id": r.id,
                    "trace_id": r.trace_id,
                    "signal": r.signal,
                    "rating": r.rating,
                    "comment": r.comment,
                    "correction": r.correction,
                    "created_at": iso(r.created_at),
                    "question": r.question,
                    "answer": r.answer,
                }
                for r in conn.execute(query)
            ]


def _trace_values(trace: TraceRecord) -> dict[str, Any]:
    return {
        "tenant": trace.tenant,
        "collection": trace.collection,
        "question": trace.question,
        "answer": trace.answer,
        "abstained": int(trace.abstained),
        "reason": trace.reason,
        "confidence": float(trace.confidence),
        "citations_json": _dumps(trace.citations),
        "sources_json": _dumps(trace.sources),
        "latency_json": _dumps(trace.latency_ms),
        "details_json": _dumps(trace.details),
        "config_hash": trace.config_hash,
    }


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _trace_summary(row: Any, n_feedback: int | None = None) -> dict[str, Any]:
    return {
        "trace_id": row.id,
        "created_at": iso(row.created_at),
        "collection": row.collection,
        "question": row.question,
        "answer": row.answer,
        "abstained": bool(row.abstained),
        "confidence": row.confidence,
        "latency_ms": json.loads(row.latency_json),
        "n_feedback": int(row.n_feedback if n_feedback is None else n_feedback),
    }
