"""The answer cache of a served collection: what `Responder` asks before retrieving, and tells after
answering (the CLI and the server share it through the Responder).

- Scope: an entry is served only within its tenant and collection, for the same collection version
  (every ingest that changes documents bumps it), pipeline config (the `cache:` section aside),
  prompt template text, generator and sampling.
- Lookup: the exact cache (normalised text), then the semantic cache (nearest cached questions,
  cosine >= `cache.threshold`, then verification: llmpilot.cache.verify); a hit whose cited
  documents changed since it was answered is deleted, never served; entries older than `ttl_s` too.
- Several processes may share the store: a scope's in-memory table is rebuilt when its rows changed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from llmpilot.cache.normalize import normalize_question
from llmpilot.cache.semantic import Lookup, SemanticCache
from llmpilot.cache.store import CacheStore
from llmpilot.cache.verify import QuestionFeatures, Verifier
from llmpilot.config import CacheConfig, stable_hash
from llmpilot.pipeline import Sampling
from llmpilot.store.db import Store
from llmpilot.types import Answer, answer_from_json, answer_to_json


@dataclass(frozen=True)
class CacheDecision:
    """What the cache did for one question (a row of the trace's decisions)."""

    outcome: str  # hit | miss | stored | skipped | invalidated
    kind: str  # exact | semantic | "" (miss)
    score: float | None
    latency_ms: float
    reason: str
    details: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": "cache",
            "name": self.kind or "lookup",
            "outcome": self.outcome,
            "score": None if self.score is None else round(float(self.score), 4),
            "latency_ms": round(self.latency_ms, 3),
            "reason": self.reason,
            "details": self.details,
        }


@dataclass
class _Loaded:
    cache: SemanticCache
    signature: tuple[int, str]


class AnswerCache:
    """One collection's cache (thread-safe). `scope_parts` is everything else the answer depends on
    (config hash, template text, generator identity); the collection version is read per lookup."""

    def __init__(
        self, cfg: CacheConfig, store: Store, tenant: str, collection: str, scope_parts: dict[str, Any]
    ) -> None:
        self.cfg = cfg
        self.rows = CacheStore(store)
        self.tenant = tenant
        self.collection = collection
        self.scope_parts = scope_parts
        self._verifier: Verifier | None = None
        self._loaded: dict[str, _Loaded] = {}
        self._lock = threading.Lock()

    @property
    def verifier(self) -> Verifier:
        if self._verifier is None:
            self._verifier = Verifier(self.cfg.verify)
        return self._verifier

    def scope(self, sampling: Sampling | None = None) -> str:
        """The identity an entry is served under: `scope_parts`, the collection version now (a query
        over the documents) and the sampling. Computed once per question by the caller."""
        # No sampling and the default sampling give the same answers: /api/ask and /v1 share entries.
        chosen = None if sampling is None or sampling == Sampling() else repr(sampling)
        return stable_hash(
            {**self.scope_parts, "collection_version": self.rows.collection_version(), "sampling": chosen}
        )

    def _table(self, scope: str) -> SemanticCache:
        signature = self.rows.signature(self.tenant, self.collection, scope)
        loaded = self._loaded.get(scope)
        if loaded is None or loaded.signature != signature:
            table = SemanticCache(self.cfg, self.verifier)
            for row in self.rows.rows(self.tenant, self.collection, scope):
                features = QuestionFeatures.from_json(row.features) if row.features else None
                table.add(row.id, row.question, row.vector, features)
            # One scope in memory per collection: an older one is stale (new version or config).
            self._loaded = {scope: _Loaded(table, signature)}
            return table
        return loaded.cache

    def lookup(
        self, question: str, vector: np.ndarray | None, scope: str
    ) -> tuple[Answer | None, CacheDecision]:
        """The cached answer for `question` within `scope` (see `scope`; None on a miss) and the
        decision, with its reason."""
        t0 = time.perf_counter()
        with self._lock:
            table = self._table(scope)
            found: Lookup = table.lookup(question, vector if self.cfg.semantic else None)
            details: dict[str, Any] = {"entries": len(table), "checked": found.checked}
            if found.verdict is not None and found.verdict.reasons:
                details["verification"] = list(found.verdict.reasons)
            if found.kind == "miss" or found.entry_id is None:
                return None, self._decision("miss", "", found.score, t0, found.reason, details)
            cached = self.rows.answer(self.tenant, self.collection, found.entry_id)
            why_not = self._stale(cached)
            if cached is None or why_not:
                self.rows.delete(self.tenant, self.collection, [found.entry_id])
                table.remove(found.entry_id)
                self._loaded.pop(scope, None)
                return None, self._decision(
                    "invalidated", found.kind, found.score, t0, why_not or "entry gone", details
                )
            self.rows.touch(found.entry_id)
        answer = answer_from_json(cached.answer)
        details["entry"] = found.entry_id
        details["cached_question"] = answer.question
        reason = "same question" if found.kind == "exact" else f"paraphrase of {answer.question!r}"
        return answer, self._decision("hit", found.kind, found.score, t0, reason, details)

    def _stale(self, cached: Any) -> str:
        if cached is None:
            return "entry gone"
        if self.cfg.ttl_s and (datetime.now(UTC) - cached.created_at).total_seconds() > self.cfg.ttl_s:
            return f"older than ttl_s={self.cfg.ttl_s:g}"
        now = self.rows.document_hashes(cached.doc_hashes)
        changed = sorted(d for d, h in cached.doc_hashes.items() if now.get(d) != h)
        if changed:
            return f"cited document changed: {', '.join(changed[:3])}"
        return ""

    def put(self, question: str, vector: np.ndarray | None, answer: Answer, scope: str) -> CacheDecision:
        """Keep a finished answer for the next time under `scope`, the one it was looked up in when
        the question arrived (what is worth keeping is the caller's call)."""
        t0 = time.perf_counter()
        cited = {c.doc_id for c in answer.citations} or {c.doc_id for c in answer.sources}
        with self._lock:
            doc_hashes = self.rows.document_hashes(cited)
            features = self.verifier.features(question)
            stored = replace(answer, latency_ms={}, decisions=[], cached="")
            entry_id = self.rows.add(
                self.tenant,
                self.collection,
                scope,
                question=question,
                normalized=normalize_question(question),
                vector=vector,
                features=features.to_json(),
                answer=answer_to_json(stored),
                doc_hashes=doc_hashes,
                max_entries=self.cfg.max_entries,
            )
            loaded = self._loaded.get(scope)
            if loaded is not None:  # keep the table in step rather than reload every row
                loaded.cache.add(entry_id, question, vector, features)
                loaded.signature = self.rows.signature(self.tenant, self.collection, scope)
        return self._decision(
            "stored", "", None, t0, "answer kept for repeated questions", {"entry": entry_id}
        )

    def forget(self, entry_ids: Sequence[str]) -> int:
        """Delete entries (a user marked their answer wrong); the in-memory tables reload."""
        with self._lock:
            n = self.rows.delete(self.tenant, self.collection, list(entry_ids))
            self._loaded.clear()
        return n

    @staticmethod
    def _decision(
        outcome: str, kind: str, score: float | None, t0: float, reason: str, details: dict[str, Any]
    ) -> CacheDecision:
        return CacheDecision(outcome, kind, score, (time.perf_counter() - t0) * 1000.0, reason, details)
