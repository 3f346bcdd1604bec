"""Fusing ranked lists from several retrievers. Pure functions over ScoredId lists.

Measured on the shared data: naive RRF loses to BM25 alone on Korean, while a normalized convex
combination with a tuned weight wins; both are offered and the optimizer picks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from llmpilot.types import ScoredId


def rrf(lists: Mapping[str, Sequence[ScoredId]], k: int = 60) -> list[tuple[str, float]]:
    """Reciprocal-rank fusion: sum over lists of 1 / (k + rank), rank starting at 1."""
    fused: dict[str, float] = {}
    for ranked in lists.values():
        for rank, item in enumerate(ranked, start=1):
            fused[item.id] = fused.get(item.id, 0.0) + 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))


def normalize(scores: Sequence[float], method: str) -> list[float]:
    if not scores:
        return []
    if method == "minmax":
        lo, hi = min(scores), max(scores)
        if hi - lo <= 1e-12:
            return [1.0 for _ in scores]
        return [(s - lo) / (hi - lo) for s in scores]
    if method == "zscore":
        mean = sum(scores) / len(scores)
        std = math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))
        if std <= 1e-12:
            return [0.0 for _ in scores]
        return [(s - mean) / std for s in scores]
    raise ValueError(f"unknown normalization {method!r}; use minmax or zscore")


def convex(
    lists: Mapping[str, Sequence[ScoredId]],
    weights: Mapping[str, float],
    normalization: str = "minmax",
) -> list[tuple[str, float]]:
    """Weighted sum of per-list normalized scores. An id missing from a list gets that list's
    lowest normalized score (it ranked below every candidate the list returned)."""
    normalized: dict[str, dict[str, float]] = {}
    floors: dict[str, float] = {}
    for name, ranked in lists.items():
        values = normalize([item.score for item in ranked], normalization)
        normalized[name] = {item.id: v for item, v in zip(ranked, values, strict=True)}
        floors[name] = min(values) if values else 0.0
    ids = {item.id for ranked in lists.values() for item in ranked}
    fused = {
        doc: sum(weights.get(name, 0.0) * normalized[name].get(doc, floors[name]) for name in lists)
        for doc in ids
    }
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))
