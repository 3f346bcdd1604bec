"""The answer cache's rows in the store of record (table `answer_cache`, migration m004).

Every read and write takes the tenant and collection: isolation is in the queries. Vectors are stored
as float32 bytes; the in-memory search structure (llmpilot.cache.semantic) is rebuilt from these rows.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import delete, func, insert, select, update

from llmpilot.store import schema
from llmpilot.store.db import Store

_T = schema.answer_cache


@dataclass(frozen=True)
class CacheRow:
    """One cached answer as the in-memory cache needs it (the answer itself is read on a hit)."""

    id: str
    question: str
    normalized: str
    vector: np.ndarray | None
    #: The verifier's QuestionFeatures as JSON text (llmpilot.cache.verify), computed at insert.
    features: str
    created_at: datetime


@dataclass(frozen=True)
class CachedAnswer:
    answer: dict[str, Any]
    #: Content hash of each cited document when the answer was made.
    doc_hashes: dict[str, str]
    created_at: datetime


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class CacheStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine

    # --- what the answer depends on -----------------------------------------------------------

    def collection_version(self) -> str:
        """Changes with every ingest that adds, changes or removes a document (count and latest
        update of the documents): cached answers of an older version are out of scope."""
        d = schema.documents
        with self.engine.connect() as conn:
            count, latest = conn.execute(select(func.count(), func.max(d.c.updated_at))).one()
        return hashlib.sha256(f"{count}|{latest}".encode()).hexdigest()[:16]

    def document_hashes(self, doc_ids: Iterable[str]) -> dict[str, str]:
        ids = sorted(set(doc_ids))
        if not ids:
            return {}
        d = schema.documents
        out: dict[str, str] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(ids), 500):
                rows = conn.execute(select(d.c.id, d.c.content_hash).where(d.c.id.in_(ids[i : i + 500])))
                out.update({r.id: r.content_hash for r in rows})
        return out

    # --- rows ---------------------------------------------------------------------------------

    def signature(self, tenant: str, collection: str, scope: str) -> tuple[int, str]:
        """(rows, newest row) of a scope: changes when any process adds or removes an entry."""
        with self.engine.connect() as conn:
            n, newest = conn.execute(
                select(func.count(), func.max(_T.c.created_at)).where(
                    _T.c.tenant == tenant, _T.c.collection == collection, _T.c.scope == scope
                )
            ).one()
        return int(n), str(newest)

    def rows(self, tenant: str, collection: str, scope: str) -> list[CacheRow]:
        query = select(
            _T.c.id, _T.c.question, _T.c.normalized, _T.c.vector, _T.c.features_json, _T.c.created_at
        ).where(_T.c.tenant == tenant, _T.c.collection == collection, _T.c.scope == scope)
        with self.engine.connect() as conn:
            return [
                CacheRow(
                    id=r.id,
                    question=r.question,
                    normalized=r.normalized,
                    vector=None if r.vector is None else np.frombuffer(r.vector, dtype=np.float32).copy(),
                    features=r.features_json,
                    created_at=_utc(r.created_at),
                )
                for r in conn.execute(query.order_by(_T.c.created_at))
            ]

    def answer(self, tenant: str, collection: str, entry_id: str) -> CachedAnswer | None:
        query = select(_T.c.answer_json, _T.c.doc_hashes_json, _T.c.created_at).where(
            _T.c.id == entry_id, _T.c.tenant == tenant, _T.c.collection == collection
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return CachedAnswer(
            json.loads(row.answer_json), json.loads(row.doc_hashes_json), _utc(row.created_at)
        )

    def add(
        self,
        tenant: str,
        collection: str,
        scope: str,
        *,
        question: str,
        normalized: str,
        vector: np.ndarray | None,
        features: str,
        answer: dict[str, Any],
        doc_hashes: dict[str, str],
        max_entries: int,
    ) -> str:
        """Insert an entry, then evict the least recently used beyond `max_entries` per tenant and
        collection. Returns the new entry's id."""
        entry_id = str(uuid.uuid4())
        now = datetime.now(UTC)
        blob = None if vector is None else np.asarray(vector, dtype=np.float32).tobytes()
        with self.store.transaction() as conn:
            conn.execute(
                insert(_T).values(
                    id=entry_id,
                    tenant=tenant,
                    collection=collection,
                    scope=scope,
                    question=question,
                    normalized=normalized,
                    vector=blob,
                    features_json=features,
                    answer_json=json.dumps(answer, ensure_ascii=False),
                    doc_hashes_json=json.dumps(doc_hashes, ensure_ascii=False, sort_keys=True),
                    hits=0,
                    created_at=now,
                    last_hit_at=now,
                )
            )
            mine = (_T.c.tenant == tenant, _T.c.collection == collection)
            n = conn.execute(select(func.count()).where(*mine)).scalar_one()
            if n > max_entries:
                oldest = select(_T.c.id).where(*mine).order_by(_T.c.last_hit_at).limit(n - max_entries)
                ids = [r[0] for r in conn.execute(oldest)]
                conn.execute(delete(_T).where(_T.c.id.in_(ids)))
        return entry_id

    def touch(self, entry_id: str) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                update(_T)
                .where(_T.c.id == entry_id)
                .values(hits=_T.c.hits + 1, last_hit_at=datetime.now(UTC))
            )

    def delete(self, tenant: str, collection: str, ids: Sequence[str]) -> int:
        if not ids:
            return 0
        with self.store.transaction() as conn:
            result = conn.execute(
                delete(_T).where(_T.c.tenant == tenant, _T.c.collection == collection, _T.c.id.in_(list(ids)))
            )
        return int(result.rowcount or 0)

    def clear(self, tenant: str | None = None, collection: str | None = None) -> int:
        where = []
        if tenant is not None:
            where.append(_T.c.tenant == tenant)
        if collection is not None:
            where.append(_T.c.collection == collection)
        with self.store.transaction() as conn:
            result = conn.execute(delete(_T).where(*where))
        return int(result.rowcount or 0)

    def stats(self, live_scopes: dict[tuple[str, str], str] | None = None) -> list[dict[str, Any]]:
        """Per tenant and collection: entries, hits served, oldest/newest entry and last hit;
        with `live_scopes` ({(tenant, collection): scope}) also how many entries are still servable."""
        query = (
            select(
                _T.c.tenant,
                _T.c.collection,
                _T.c.scope,
                func.count().label("entries"),
                func.sum(_T.c.hits).label("hits"),
                func.min(_T.c.created_at).label("oldest"),
                func.max(_T.c.created_at).label("newest"),
                func.max(_T.c.last_hit_at).label("last_hit"),
            )
            .group_by(_T.c.tenant, _T.c.collection, _T.c.scope)
            .order_by(_T.c.tenant, _T.c.collection)
        )
        merged: dict[tuple[str, str], dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for r in conn.execute(query):
                key = (r.tenant, r.collection)
                item = merged.setdefault(
                    key,
                    {
                        "tenant": r.tenant,
                        "collection": r.collection,
                        "entries": 0,
                        "hits": 0,
                        "oldest": None,
                        "newest": None,
                        "last_hit": None,
                    },
                )
                item["entries"] += int(r.entries)
                item["hits"] += int(r.hits or 0)
                for field, pick in (("oldest", min), ("newest", max), ("last_hit", max)):
                    value = _utc(getattr(r, field)).isoformat()
                    item[field] = value if item[field] is None else pick(item[field], value)
                if live_scopes is not None:
                    live = int(r.entries) if live_scopes.get(key) == r.scope else 0
                    item["servable"] = item.get("servable", 0) + live
        return list(merged.values())
