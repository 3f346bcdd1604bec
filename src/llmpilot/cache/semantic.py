"""One scope's question cache in memory: exact match on the normalised text, then the nearest
cached questions by cosine, each verified before it is served.

The store (llmpilot.cache.store) owns persistence and scoping; this class is the lookup that the
answer path, `llmpilot cache eval` and the calibration share, so all three measure the same rule.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np

from llmpilot.cache.normalize import normalize_question
from llmpilot.cache.table import VectorTable
from llmpilot.cache.verify import QuestionFeatures, Verdict, Verifier, question_language
from llmpilot.config import CacheConfig


@dataclass(frozen=True)
class Lookup:
    """The outcome of one lookup, as the trace shows it.

    `score`: the best candidate's cosine (None for an exact hit or when nothing was searched);
    `verdict`: of the served candidate, or of the best rejected one on a verification miss;
    `checked`: candidates verified; `reason`: why a miss ("" on a hit)."""

    kind: Literal["exact", "semantic", "miss"]
    entry_id: str | None
    score: float | None
    verdict: Verdict | None
    checked: int
    latency_ms: float
    reason: str

    @property
    def hit(self) -> bool:
        return self.kind != "miss"


class SemanticCache:
    """Entries of one scope (tenant, collection version, config, prompt, model): question text,
    query vector and verification features per entry id."""

    def __init__(self, cfg: CacheConfig, verifier: Verifier) -> None:
        self.cfg = cfg
        self.verifier = verifier
        self._table = VectorTable()
        self._features: dict[str, QuestionFeatures] = {}
        self._questions: dict[str, str] = {}
        #: normalised text -> entry ids in insertion order; the newest is served.
        self._exact: dict[str, list[str]] = {}
        # Lookups read what adds and removes change; one lock keeps the four maps consistent.
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self._questions)

    def entry_ids(self) -> list[str]:
        with self._lock:
            return list(self._questions)

    def add(
        self,
        entry_id: str,
        question: str,
        vector: np.ndarray | None,
        features: QuestionFeatures | None = None,
    ) -> None:
        """Insert (or replace) an entry; `features` saves the analysis when the store kept it.
        Without a vector the entry is served by exact match only."""
        feats = features if features is not None else self.verifier.features(question)
        with self._lock:
            if entry_id in self._questions:
                self.remove(entry_id)
            self._questions[entry_id] = question
            self._features[entry_id] = feats
            self._exact.setdefault(normalize_question(question), []).append(entry_id)
            if vector is not None:
                self._table.add(entry_id, vector)

    def remove(self, entry_id: str) -> bool:
        """Drop an entry; False when it was not there."""
        with self._lock:
            question = self._questions.pop(entry_id, None)
            if question is None:
                return False
            self._features.pop(entry_id, None)
            self._table.remove(entry_id)
            key = normalize_question(question)
            ids = self._exact.get(key, [])
            if entry_id in ids:
                ids.remove(entry_id)
            if not ids:
                self._exact.pop(key, None)
            return True

    def features(self, entry_id: str) -> QuestionFeatures:
        return self._features[entry_id]

    def lookup(self, question: str, vector: np.ndarray | None) -> Lookup:
        """Exact match first (`cfg.exact`), then (`cfg.semantic`, with a vector) the `cfg.candidates`
        nearest with cosine >= the threshold (`cfg.threshold_for` the question's language), best
        first; the first that verifies is served."""
        start = time.perf_counter()

        def done(
            kind: Literal["exact", "semantic", "miss"],
            entry_id: str | None = None,
            score: float | None = None,
            verdict: Verdict | None = None,
            checked: int = 0,
            reason: str = "",
        ) -> Lookup:
            elapsed = (time.perf_counter() - start) * 1000.0
            return Lookup(kind, entry_id, score, verdict, checked, elapsed, reason)

        cfg = self.cfg
        with self._lock:
            if not self._questions:
                return done("miss", reason="no entries")
            if cfg.exact:
                ids = self._exact.get(normalize_question(question))
                if ids:
                    return done("exact", entry_id=ids[-1])
            if not cfg.semantic:
                return done("miss", reason="no exact match (semantic cache off)")
            if vector is None:
                return done("miss", reason="no exact match (no query vector)")
            nearest = self._table.search(vector, cfg.candidates)
            if not nearest:
                return done("miss", reason="no entries with a vector")
            best = nearest[0][1]
            per_language = cfg.threshold_ko is not None or cfg.threshold_en is not None
            threshold = cfg.threshold_for(question_language(question)) if per_language else cfg.threshold
            candidates = [(eid, s) for eid, s in nearest if s >= threshold]
            if not candidates:
                return done("miss", score=best, reason=f"below threshold {threshold:.2f} (best {best:.2f})")
            asked = self.verifier.features(question)
            first_rejected: Verdict | None = None
            for checked, (entry_id, cosine) in enumerate(candidates, start=1):
                verdict = self.verifier.check(asked, self._features[entry_id], cosine=cosine)
                if verdict.ok:
                    return done("semantic", entry_id, best, verdict, checked)
                first_rejected = first_rejected or verdict
            assert first_rejected is not None
            why = "; ".join(first_rejected.reasons)
            return done("miss", None, best, first_rejected, len(candidates), f"verification: {why}")
