import math

import pytest

from llmpilot.evaluation.metrics import evaluate_run, mrr_at_k, ndcg_at_k, recall_at_k


def test_ndcg_hand_computed() -> None:
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


def test_recall_and_mrr() -> None:
    rel = {"한국어-문서": 1, "b": 1}
    assert recall_at_k(["x", "한국어-문서"], rel, 10) == 0.5
    assert recall_at_k(["x", "한국어-문서"], rel, 1) == 0.0
    assert mrr_at_k(["x", "y", "b"], rel, 10) == pytest.approx(1 / 3)
    assert mrr_at_k(["x", "y", "b"], rel, 2) == 0.0


def test_evaluate_run_counts_missing_queries_as_zero_and_ignores_duplicates() -> None:
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    result = evaluate_run({"q1": ["a", "a", "c"]}, qrels)
    assert result["ndcg@10"] == pytest.approx(0.5)
    assert result["recall@100"] == pytest.approx(0.5)
    assert result["mrr@10"] == pytest.approx(0.5)
