"""MTEB's main score for each task type, computed from embeddings (rows L2-normalized, as every llmpilot
embedder returns them). Each function follows the protocol of the installed `mteb` 2.x evaluator for
its type, so the same embeddings give the same number here and there; where it differs, the docstring
says how.

- STS: Spearman correlation of the pairs' cosine similarity with the gold scores (`cosine_spearman`).
- Classification: logistic regression (sklearn defaults, max_iter=100) fitted on `samples_per_label`
  training items per label, drawn as MTEB draws them, `n_experiments` times; mean test accuracy.
- Clustering: MiniBatchKMeans with as many clusters as labels (batch 500, n_init="auto", seed 42);
  V-measure of the assignment against the labels (MTEB's legacy clustering evaluator, one set).
- Pair classification: average precision of the pair similarity against the 0/1 labels, the best of
  cosine, dot product, negative Euclidean and negative Manhattan distance (`max_ap`).
- Retrieval: documents ranked by cosine similarity, top 100 kept; nDCG@10 with the qrel grades as gains
  (llmpilot.evaluation.retrieval_metrics, which agrees with pytrec_eval, as MTEB's does).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr

from llmpilot.evaluation.retrieval_metrics import ndcg_at_k, rank_scored

#: MTEB's defaults (mteb.abstasks.classification.AbsTaskClassification, AbsTask.seed).
SAMPLES_PER_LABEL = 8
N_EXPERIMENTS = 10
SEED = 42
#: MTEB's legacy clustering evaluator's mini-batch size.
CLUSTERING_BATCH = 500
RETRIEVAL_TOP_K = 100


def _check_pairs(a: np.ndarray, b: np.ndarray, n: int) -> None:
    if a.shape != b.shape or a.shape[0] != n:
        raise ValueError(f"pair embeddings {a.shape} and {b.shape} do not match {n} labels")


def sts_spearman(emb1: np.ndarray, emb2: np.ndarray, gold: Sequence[float]) -> float:
    """Spearman's rho between the cosine similarity of each pair and its gold score. MTEB normalizes
    the gold scores to [0, 1] first, which a rank correlation ignores."""
    _check_pairs(emb1, emb2, len(gold))
    cosine = np.sum(emb1 * emb2, axis=1)
    rho = spearmanr(np.asarray(gold, dtype=np.float64), cosine.astype(np.float64)).statistic
    return float(rho)


def undersample(labels: Sequence[Hashable], n_experiments: int, per_label: int, seed: int) -> list[list[int]]:
    """The training indices of each experiment, drawn exactly as MTEB's `_undersample_data` does: one
    index list, shuffled again in place by a fresh RandomState(seed) before each experiment, then the
    first `per_label` indices of each label in that order."""
    idxs = list(range(len(labels)))
    selected: list[list[int]] = []
    for _ in range(n_experiments):
        np.random.RandomState(seed).shuffle(idxs)
        counts: dict[Hashable, int] = defaultdict(int)
        chosen = []
        for i in idxs:
            if counts[labels[i]] < per_label:
                chosen.append(i)
                counts[labels[i]] += 1
        selected.append(chosen)
    return selected


def classification_accuracy(
    train: np.ndarray,
    train_labels: Sequence[Hashable],
    test: np.ndarray,
    test_labels: Sequence[Hashable],
    *,
    samples_per_label: int = SAMPLES_PER_LABEL,
    n_experiments: int = N_EXPERIMENTS,
    seed: int = SEED,
) -> float:
    """Mean accuracy over `n_experiments` logistic regressions, each fitted on an undersampled training
    set (MTEB's AbsTaskClassification with its default LogisticRegression(max_iter=100))."""
    from sklearn.linear_model import LogisticRegression

    if train.shape[0] != len(train_labels) or test.shape[0] != len(test_labels):
        raise ValueError("embeddings and labels differ in length")
    if len(set(train_labels)) < 2:
        raise ValueError("classification needs at least two labels in the training split")
    y_test = np.asarray(test_labels)
    accuracies = []
    for chosen in undersample(train_labels, n_experiments, samples_per_label, seed):
        model = LogisticRegression(max_iter=100)
        model.fit(train[chosen], [train_labels[i] for i in chosen])
        accuracies.append(float(np.mean(model.predict(test) == y_test)))
    return float(np.mean(accuracies))


def clustering_v_measure(emb: np.ndarray, labels: Sequence[Hashable], *, seed: int = SEED) -> float:
    """V-measure of MiniBatchKMeans clusters (k = number of distinct labels) against the labels."""
    from sklearn.cluster import MiniBatchKMeans
    from sklearn.metrics import v_measure_score

    if emb.shape[0] != len(labels):
        raise ValueError("embeddings and labels differ in length")
    k = len(set(labels))
    if k <= 1:
        return 1.0  # MTEB's convention: one label, nothing to separate
    model = MiniBatchKMeans(
        n_clusters=k, batch_size=CLUSTERING_BATCH, n_init="auto", compute_labels=True, random_state=seed
    )
    model.fit(emb)
    return float(v_measure_score(list(labels), model.labels_.tolist()))


def pair_max_ap(emb1: np.ndarray, emb2: np.ndarray, labels: Sequence[int]) -> float:
    """The best average precision over MTEB's pair scores (cosine, dot, -euclidean, -manhattan),
    computed as MTEB computes them (sklearn's paired distances on the float32 embeddings): near-tied
    similarities then tie, or not, as they do there, and AP depends on ties."""
    from sklearn.metrics import average_precision_score
    from sklearn.metrics.pairwise import (
        paired_cosine_distances,
        paired_euclidean_distances,
        paired_manhattan_distances,
    )

    _check_pairs(emb1, emb2, len(labels))
    if len(set(labels)) < 2:
        raise ValueError("pair classification needs both positive and negative pairs")
    a, b = np.asarray(emb1, dtype=np.float32), np.asarray(emb2, dtype=np.float32)
    scores = [
        1 - paired_cosine_distances(a, b),
        np.asarray([np.dot(a[i], b[i]) for i in range(len(a))]),
        -paired_euclidean_distances(a, b),
        -paired_manhattan_distances(a, b),
    ]
    y = np.asarray(labels, dtype=np.int64)
    return float(max(average_precision_score(y, s) for s in scores))


@dataclass(frozen=True)
class RetrievalScore:
    ndcg_at_10: float
    #: per query id (every judged query; one the run misses scores 0)
    per_query: dict[str, float]


def retrieval_ndcg(
    query_emb: np.ndarray,
    query_ids: Sequence[str],
    doc_emb: np.ndarray,
    doc_ids: Sequence[str],
    qrels: Mapping[str, Mapping[str, int]],
    *,
    top_k: int = RETRIEVAL_TOP_K,
) -> RetrievalScore:
    """Mean nDCG@10 over the judged queries, ranking each query's top `top_k` documents by cosine
    (ties in trec_eval's order: doc id descending, as pytrec_eval breaks them for MTEB)."""
    if query_emb.shape[0] != len(query_ids) or doc_emb.shape[0] != len(doc_ids):
        raise ValueError("embeddings and ids differ in length")
    sims = query_emb.astype(np.float32) @ doc_emb.astype(np.float32).T
    k = min(top_k, len(doc_ids))
    per_query: dict[str, float] = {}
    for row, qid in enumerate(query_ids):
        if qid not in qrels:
            continue
        top = np.argpartition(-sims[row], k - 1)[:k] if k < len(doc_ids) else np.arange(len(doc_ids))
        scored = {doc_ids[j]: float(sims[row, j]) for j in top}
        per_query[qid] = ndcg_at_k(rank_scored(scored), qrels[qid], 10)
    for qid in qrels:
        per_query.setdefault(qid, 0.0)
    mean = float(np.mean(list(per_query.values()))) if per_query else 0.0
    return RetrievalScore(ndcg_at_10=mean, per_query=per_query)
