"""Retrieval metrics (the one module, llmpilot.evaluation.retrieval_metrics): hand-computed cases,
and parity with pytrec_eval (trec_eval) on random runs (Korean ids, graded qrels, ties, empty and
missing rankings) and on a real BM25 run over SciFact."""

import math
import random
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from llmpilot.evaluation.retrieval_metrics import (
    METRICS,
    average_precision_at_k,
    evaluate_retrieval,
    hit_rate_at_k,
    mrr_at_k,
    ndcg_at_k,
    precision_at_k,
    rank_scored,
    recall_at_k,
)

pytrec_eval = pytest.importorskip("pytrec_eval")

SCIFACT = Path(__file__).resolve().parents[3] / "shared" / "data" / "scifact"
KS = (1, 3, 5, 10, 20)
TOL = 1e-6
# our metric -> trec_eval measure at a cutoff
TREC = {"precision": "P", "recall": "recall", "ndcg": "ndcg_cut", "map": "map_cut", "hit_rate": "success"}


def trec_measures(ks: Sequence[int]) -> set[str]:
    cut = ",".join(map(str, ks))
    return {f"{m}.{cut}" for m in TREC.values()} | {"recip_rank", "map", "ndcg", "set_P", "recall.1000"}


def reference(
    qrels: Mapping[str, Mapping[str, int]], run: Mapping[str, Mapping[str, float]], ks: Sequence[int]
) -> dict[str, dict[str, float]]:
    """pytrec_eval's numbers under our names (MRR@k from its reciprocal rank)."""
    evaluator = pytrec_eval.RelevanceEvaluator({q: dict(r) for q, r in qrels.items()}, trec_measures(ks))
    raw = evaluator.evaluate({q: dict(r) for q, r in run.items()})
    out = {
        qid: {
            **{f"{m}@{k}": vals[f"{TREC[m]}_{k}"] for m in TREC for k in ks},
            "map": vals["map"],
            "ndcg": vals["ndcg"],
            "mrr": vals["recip_rank"],
            "precision": vals["set_P"],
            "recall": vals["recall_1000"],
        }
        for qid, vals in raw.items()
    }
    for vals in out.values():
        # reciprocal rank 1/r counts at cutoff k when r <= k
        vals.update({f"mrr@{k}": vals["mrr"] if vals["mrr"] * k >= 1 - 1e-12 else 0.0 for k in ks})
    return out


def assert_parity(
    ours: Mapping[str, Mapping[str, float]],
    ref: Mapping[str, Mapping[str, float]],
    qrels: Mapping[str, object],
) -> int:
    compared = 0
    for qid in qrels:
        if qid not in ref:
            # trec_eval leaves out queries without a ranking; we score them 0 (BEIR's convention).
            assert all(v == 0.0 for v in ours[qid].values()), qid
            continue
        for name, expected in ref[qid].items():
            assert ours[qid][name] == pytest.approx(expected, abs=TOL), (qid, name)
            compared += 1
    return compared


def random_case(seed: int) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, float]]]:
    rng = random.Random(seed)
    docs = (
        [f"doc{i}" for i in range(30)] + [f"문서-{i}" for i in range(30)] + [f"판례_{i}호" for i in range(10)]
    )
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, dict[str, float]] = {}
    for n in range(80):
        qid = f"질문-{n}" if n % 2 else f"q{n}"
        judged = rng.sample(docs, rng.randint(1, 8))
        qrels[qid] = {d: rng.choice([0, 1, 1, 2, 3]) for d in judged}
        if n % 17 == 0:
            qrels[qid] = {d: 0 for d in judged}  # judged, nothing relevant
        if n % 9 == 0:
            continue  # no ranking at all
        size = 0 if n % 13 == 0 else rng.randint(1, 40)
        # one decimal: many tied scores, which trec_eval breaks by doc id descending
        run[qid] = {d: round(rng.random(), 1) for d in rng.sample(docs, size)}
    return qrels, run


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scored_runs_match_trec_eval_with_ties_and_korean_ids(seed: int) -> None:
    qrels, run = random_case(seed)
    ref = reference(qrels, run, KS)
    ours = evaluate_retrieval(run, qrels, ks=(*KS, None))
    assert any(len(set(r.values())) < len(r) for r in run.values())  # ties exercised
    assert any(q not in run for q in qrels) and any(not r for r in run.values())
    assert assert_parity(ours.per_query, ref, qrels) > 1000
    for name, mean in ours.mean.items():
        assert mean == pytest.approx(sum(ours.values(name)) / len(qrels), abs=1e-12)


def test_ranked_lists_are_taken_in_the_given_order() -> None:
    qrels, scored = random_case(7)
    # Our ranked-list API keeps the caller's order; trec_eval re-sorts by score, so feed it
    # strictly decreasing scores that encode exactly that order.
    rng = random.Random(7)
    ranked = {q: rng.sample(list(r), len(r)) for q, r in scored.items()}
    as_scores = {q: {d: float(len(r) - i) for i, d in enumerate(r)} for q, r in ranked.items()}
    ours = evaluate_retrieval(ranked, qrels, ks=(*KS, None))
    assert assert_parity(ours.per_query, reference(qrels, as_scores, KS), qrels) > 1000


def test_rank_scored_breaks_ties_like_trec_eval() -> None:
    assert rank_scored({"a": 1.0, "b": 2.0, "c": 1.0, "가": 1.0}) == ["b", "가", "c", "a"]


def test_hand_computed_korean_case() -> None:
    rel = {"문서1": 3, "문서2": 1, "문서3": 0, "문서4": 2}
    ranked = ["문서3", "문서2", "x", "문서1"]
    assert precision_at_k(ranked, rel, 4) == pytest.approx(2 / 4)
    assert precision_at_k(ranked, rel, 10) == pytest.approx(2 / 10)  # trec_eval divides by k
    assert precision_at_k(ranked, rel, None) == pytest.approx(2 / 4)
    assert recall_at_k(ranked, rel, 2) == pytest.approx(1 / 3)
    assert recall_at_k(ranked, rel, 4) == pytest.approx(2 / 3)
    assert hit_rate_at_k(ranked, rel, 1) == 0.0 and hit_rate_at_k(ranked, rel, 2) == 1.0
    assert mrr_at_k(ranked, rel, 1) == 0.0 and mrr_at_k(ranked, rel, 4) == pytest.approx(1 / 2)
    # AP@4: relevant at ranks 2 and 4 -> (1/2 + 2/4) / 3 relevant
    assert average_precision_at_k(ranked, rel, 4) == pytest.approx((1 / 2 + 2 / 4) / 3)
    dcg = 1 / math.log2(3) + 3 / math.log2(5)
    idcg = 3 + 2 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(ranked, rel, 4) == pytest.approx(dcg / idcg)
    assert ndcg_at_k(["문서1"], rel, 1) == pytest.approx(1.0)


def test_edge_cases() -> None:
    assert recall_at_k(["a"], {"a": 0}, 10) == 0.0  # nothing relevant
    assert average_precision_at_k([], {"a": 1}, 10) == 0.0
    assert precision_at_k([], {"a": 1}, None) == 0.0
    scores = evaluate_retrieval({"q": ["a", "a", "b"]}, {"q": {"b": 1}}, ks=(2,))
    assert scores.per_query["q"]["mrr@2"] == pytest.approx(0.5)  # a repeated id counts once
    with pytest.raises(ValueError, match="unknown retrieval metric"):
        evaluate_retrieval({}, {"q": {"a": 1}}, metrics=("f1",))
    with pytest.raises(ValueError, match="positive integers"):
        evaluate_retrieval({}, {"q": {"a": 1}}, ks=(0,))
    with pytest.raises(ValueError, match="no queries"):
        evaluate_retrieval({}, {})


def test_hand_computed_binary_ndcg() -> None:
    rel = {"d1": 1, "d3": 1}
    # hits at ranks 1 and 3: DCG = 1 + 1/log2(4); IDCG = 1 + 1/log2(3)
    expected = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert ndcg_at_k(["d1", "d2", "d3"], rel, 10) == pytest.approx(expected)
    assert ndcg_at_k(["d2", "d4"], rel, 10) == 0.0
    assert ndcg_at_k(["d1", "d3"], rel, 10) == pytest.approx(1.0)
    assert ndcg_at_k(["x", "d1"], rel, 1) == 0.0


def test_graded_ndcg_uses_gains() -> None:
    rel = {"a": 2, "b": 1}
    assert ndcg_at_k(["b", "a"], rel, 10) == pytest.approx((1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3)))


def test_recall_and_mrr_at_cutoffs() -> None:
    rel = {"한국어-문서": 1, "b": 1}
    assert recall_at_k(["x", "한국어-문서"], rel, 10) == 0.5
    assert recall_at_k(["x", "한국어-문서"], rel, 1) == 0.0
    assert mrr_at_k(["x", "y", "b"], rel, 10) == pytest.approx(1 / 3)
    assert mrr_at_k(["x", "y", "b"], rel, 2) == 0.0


def test_missing_queries_score_zero_and_duplicates_count_once() -> None:
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    scores = evaluate_retrieval(
        {"q1": ["a", "a", "c"]}, qrels, ks=(10, 100), metrics=("ndcg", "recall", "mrr")
    )
    assert scores.mean["ndcg@10"] == pytest.approx(0.5)
    assert scores.mean["recall@100"] == pytest.approx(0.5)
    assert scores.mean["mrr@10"] == pytest.approx(0.5)
    assert scores.per_query["q2"] == {name: 0.0 for name in scores.per_query["q2"]}


@pytest.mark.skipif(not SCIFACT.exists(), reason="shared data not beside the repo")
def test_bm25_scifact_run_matches_trec_eval() -> None:
    from llmpilot.config import KeywordIndexConfig
    from llmpilot.evaluation.datasets import load_dataset
    from llmpilot.index.keyword import create_keyword_index

    dataset = load_dataset(SCIFACT)
    index = create_keyword_index(KeywordIndexConfig(tokenizer="en"))
    index.build([d.id for d in dataset.corpus], [f"{d.title}\n{d.text}" for d in dataset.corpus])
    qrels = {qid: dict(rel) for qid, rel in dataset.qrels.items()}
    # A judged query that shares no term with the corpus: an empty ranking, scored 0 by both.
    nohit = "no-hit-질문"
    qrels[nohit] = {dataset.corpus[0].id: 1}
    texts = [q.text for q in dataset.queries] + ["qqzzxx 뷁뷁"]
    results = index.search(texts, 100)
    assert results[-1] == []
    qids = [q.id for q in dataset.queries] + [nohit]
    scored = {qid: {hit.id: hit.score for hit in hits} for qid, hits in zip(qids, results, strict=True)}
    ties = sum(len(r) - len(set(r.values())) for r in scored.values())
    assert ties > 0  # BM25 gives equal scores; both sides must order them the same way

    ks = (1, 5, 10, 100)
    ref = reference(qrels, scored, ks)
    ours = evaluate_retrieval(scored, qrels, ks=(*ks, None), metrics=METRICS)
    assert assert_parity(ours.per_query, ref, qrels) > 300 * 20
    assert ours.per_query[nohit]["recall@100"] == 0.0
    assert any(s["recall@100"] == 0.0 for q, s in ours.per_query.items() if q != nohit)  # misses
    # The index's own order (ties by insertion order) through the ranked-list API (ScoredIds as is).
    ranked = {qid: [h.id for h in hits] for qid, hits in zip(qids, results, strict=True)}
    as_hits = dict(zip(qids, results, strict=True))
    as_scores = {q: {d: float(len(r) - i) for i, d in enumerate(r)} for q, r in ranked.items()}
    ours_ranked = evaluate_retrieval(as_hits, qrels, ks=(*ks, None))
    assert assert_parity(ours_ranked.per_query, reference(qrels, as_scores, ks), qrels) > 300 * 20
    assert 0.6 < ours.mean["ndcg@10"] < 0.75  # BM25 on SciFact (BEIR reports 0.665)
