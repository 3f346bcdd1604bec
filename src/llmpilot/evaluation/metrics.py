"""Retrieval metrics over ranked doc ids (BEIR conventions: binary gain unless graded qrels are given)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def dcg(gains: Sequence[float]) -> float:
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))


def ndcg_at_k(ranked: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    """nDCG@k with the qrel score as gain (1 for binary qrels), as pytrec_eval computes it."""
    if not relevant or all(v <= 0 for v in relevant.values()):
        return 0.0
    gains = [float(max(relevant.get(doc, 0), 0)) for doc in ranked[:k]]
    ideal = sorted((float(v) for v in relevant.values() if v > 0), reverse=True)[:k]
    return dcg(gains) / dcg(ideal)


def recall_at_k(ranked: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    positives = {d for d, v in relevant.items() if v > 0}
    if not positives:
        return 0.0
    return len(positives.intersection(ranked[:k])) / len(positives)


def mrr_at_k(ranked: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    for i, doc in enumerate(ranked[:k]):
        if relevant.get(doc, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def evaluate_run(
    run: Mapping[str, Sequence[str]],
    qrels: Mapping[str, Mapping[str, int]],
    *,
    ndcg_ks: Sequence[int] = (10,),
    recall_ks: Sequence[int] = (10, 100),
    mrr_ks: Sequence[int] = (10,),
) -> dict[str, float]:
    """Mean metrics over the queries in qrels (a query with no ranking scores 0, as in BEIR)."""
    names: dict[str, list[float]] = {}
    for qid, relevant in qrels.items():
        ranked = list(dict.fromkeys(run.get(qid, [])))  # duplicates would inflate gains
        for k in ndcg_ks:
            names.setdefault(f"ndcg@{k}", []).append(ndcg_at_k(ranked, relevant, k))
        for k in recall_ks:
            names.setdefault(f"recall@{k}", []).append(recall_at_k(ranked, relevant, k))
        for k in mrr_ks:
            names.setdefault(f"mrr@{k}", []).append(mrr_at_k(ranked, relevant, k))
    return {name: (sum(vals) / len(vals) if vals else 0.0) for name, vals in names.items()}
