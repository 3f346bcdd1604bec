"""Retrieval metrics, per query and averaged: recall, precision, nDCG (graded gains), MRR, MAP and
hit rate, each at a cutoff k (or over the whole ranking when k is None).

Conventions are trec_eval's (checked against pytrec_eval in the parity tests):
- a document is relevant when its qrel grade >= `threshold` (1); nDCG uses the grade as the gain;
- precision@k divides by k even when fewer documents were retrieved; MAP@k divides by all the
  query's relevant documents (not by min(k, R)); a query with no relevant document scores 0;
- a query in the qrels but missing from the run scores 0 everywhere (BEIR's convention; trec_eval
  would leave it out of the mean); run queries absent from the qrels are ignored.
- a ranked list is taken in the given order (repeated ids count once, at their first rank); a
  scored run ({doc: score}) is ranked by score descending, ties by doc id descending, as trec_eval
  does, so the same scored run gives the same numbers here and there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from llmpilot.types import ScoredId

T = TypeVar("T")

#: A ranked list of doc ids (or of ScoredIds, as indexes return them), or a {doc id: score} mapping.
Ranking = Sequence[str] | Sequence[ScoredId] | Mapping[str, float]
Run = Mapping[str, Ranking]
Qrels = Mapping[str, Mapping[str, int]]

METRICS: tuple[str, ...] = ("recall", "precision", "ndcg", "mrr", "map", "hit_rate")
DEFAULT_KS: tuple[int | None, ...] = (1, 3, 5, 10, 100)


def rank_scored(scores: Mapping[str, float]) -> list[str]:
    """Doc ids by score descending, ties by doc id descending (trec_eval's order)."""
    return [doc for doc, _ in sorted(scores.items(), key=lambda item: (item[1], item[0]), reverse=True)]


def as_ranking(ranking: Ranking) -> list[str]:
    """A ranked list of unique doc ids from a list (order kept) or a {doc: score} mapping."""
    if isinstance(ranking, Mapping):
        return rank_scored(ranking)
    return list(dict.fromkeys(item.id if isinstance(item, ScoredId) else item for item in ranking))


def _cut(items: Sequence[T], k: int | None) -> Sequence[T]:
    if k is not None and k < 1:
        raise ValueError(f"cutoff k must be at least 1, got {k}")
    return items if k is None else items[:k]


def _positives(relevant: Mapping[str, int], threshold: int) -> set[str]:
    return {doc for doc, grade in relevant.items() if grade >= threshold}


def precision_at_k(
    ranked: Sequence[str], relevant: Mapping[str, int], k: int | None, threshold: int = 1
) -> float:
    """Relevant documents in the top k over k (over the number retrieved when k is None)."""
    top = _cut(ranked, k)
    denominator = k if k is not None else len(top)
    if denominator == 0:
        return 0.0
    positives = _positives(relevant, threshold)
    return sum(doc in positives for doc in top) / denominator


def recall_at_k(
    ranked: Sequence[str], relevant: Mapping[str, int], k: int | None, threshold: int = 1
) -> float:
    positives = _positives(relevant, threshold)
    if not positives:
        return 0.0
    return sum(doc in positives for doc in _cut(ranked, k)) / len(positives)


def hit_rate_at_k(
    ranked: Sequence[str], relevant: Mapping[str, int], k: int | None, threshold: int = 1
) -> float:
    """1 when any relevant document is in the top k (trec_eval's success@k)."""
    positives = _positives(relevant, threshold)
    return float(any(doc in positives for doc in _cut(ranked, k)))


def mrr_at_k(ranked: Sequence[str], relevant: Mapping[str, int], k: int | None, threshold: int = 1) -> float:
    """Reciprocal rank of the first relevant document in the top k."""
    positives = _positives(relevant, threshold)
    for rank, doc in enumerate(_cut(ranked, k), start=1):
        if doc in positives:
            return 1.0 / rank
    return 0.0


def average_precision_at_k(
    ranked: Sequence[str], relevant: Mapping[str, int], k: int | None, threshold: int = 1
) -> float:
    """Sum of precision at each relevant rank within the top k, over all relevant documents."""
    positives = _positives(relevant, threshold)
    if not positives:
        return 0.0
    hits = 0
    total = 0.0
    for rank, doc in enumerate(_cut(ranked, k), start=1):
        if doc in positives:
            hits += 1
            total += hits / rank
    return total / len(positives)


def ndcg_at_k(ranked: Sequence[str], relevant: Mapping[str, int], k: int | None, threshold: int = 1) -> float:
    """nDCG@k with the qrel grade as gain and 1/log2(rank + 1) discount; the ideal ranking sorts all
    judged documents by grade. `threshold` is unused: every positive grade is a gain (trec_eval)."""
    del threshold
    ideal = sorted((g for g in relevant.values() if g > 0), reverse=True)
    ideal_dcg = sum(g / math.log2(i + 2) for i, g in enumerate(_cut(ideal, k)))
    if ideal_dcg == 0:
        return 0.0
    dcg = sum(max(relevant.get(doc, 0), 0) / math.log2(i + 2) for i, doc in enumerate(_cut(ranked, k)))
    return dcg / ideal_dcg


_FUNCTIONS = {
    "recall": recall_at_k,
    "precision": precision_at_k,
    "ndcg": ndcg_at_k,
    "mrr": mrr_at_k,
    "map": average_precision_at_k,
    "hit_rate": hit_rate_at_k,
}


def metric_name(metric: str, k: int | None) -> str:
    """ "ndcg@10", or "ndcg" for the whole ranking."""
    return metric if k is None else f"{metric}@{k}"


@dataclass(frozen=True)
class RetrievalScores:
    #: query id -> metric name -> score, for every query in the qrels (in qrels order).
    per_query: dict[str, dict[str, float]]
    #: metric name -> mean over those queries.
    mean: dict[str, float]

    def values(self, name: str) -> list[float]:
        """One metric's per-query scores in qrels order (e.g. for bootstrap intervals)."""
        return [scores[name] for scores in self.per_query.values()]


def score_query(
    ranking: Ranking,
    relevant: Mapping[str, int],
    *,
    ks: Sequence[int | None] = DEFAULT_KS,
    metrics: Sequence[str] = METRICS,
    threshold: int = 1,
) -> dict[str, float]:
    ranked = as_ranking(ranking)
    return {
        metric_name(metric, k): _FUNCTIONS[metric](ranked, relevant, k, threshold)
        for metric in metrics
        for k in ks
    }


def evaluate_retrieval(
    run: Run,
    qrels: Qrels,
    *,
    ks: Sequence[int | None] = DEFAULT_KS,
    metrics: Sequence[str] = METRICS,
    threshold: int = 1,
) -> RetrievalScores:
    """Per-query and mean metrics over the queries in `qrels` (see the module notes on conventions)."""
    unknown = [m for m in metrics if m not in _FUNCTIONS]
    if unknown:
        raise ValueError(f"unknown retrieval metric(s) {unknown}; choose from {', '.join(METRICS)}")
    bad_ks = [k for k in ks if k is not None and (not isinstance(k, int) or k < 1)]
    if bad_ks:
        raise ValueError(f"cutoffs must be positive integers (or None for no cutoff), got {bad_ks}")
    if not qrels:
        raise ValueError("the qrels hold no queries: nothing to evaluate")
    per_query = {
        qid: score_query(run.get(qid, ()), relevant, ks=ks, metrics=metrics, threshold=threshold)
        for qid, relevant in qrels.items()
    }
    names = [metric_name(m, k) for m in metrics for k in ks]
    mean = {name: math.fsum(s[name] for s in per_query.values()) / len(per_query) for name in names}
    return RetrievalScores(per_query=per_query, mean=mean)
