"""BERTScore and MoverScore weighting: hand-made embeddings for the arithmetic, the local MiniLM
encoder for parity with the bert-score package (idf on and off) and for idf's effect."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest

from llmpilot.evaluation import token_scores as ts

CLS, SEP = 101, 102


def encoded(ids: list[int], vectors: np.ndarray) -> ts.EncodedText:
    return ts.EncodedText(ids, vectors, np.array([t in (CLS, SEP) for t in ids]))


def test_special_tokens_are_match_targets_with_zero_weight() -> None:
    e1, e2, e3 = np.eye(3)
    # pred [CLS] e2 [SEP], ref [CLS'] e1 [SEP'] where the ref's [CLS] happens to equal e2: bert-score
    # lets e2 match it (cosine 1) but gives [CLS]/[SEP] weight 0 in the averages.
    pred = encoded([CLS, 7, SEP], np.stack([e3, e2, e3]))
    ref = encoded([CLS, 8, SEP], np.stack([e2, e1, e3]))
    wp, wr = ts.uniform_weights(pred), ts.uniform_weights(ref)
    assert wp.tolist() == [0.0, 1.0, 0.0]
    score = ts.bertscore_from_embeddings(pred.vectors, ref.vectors, wp, wr)
    # P: e2's best is the ref [CLS] (1.0). R: e1's best over pred tokens is 0.
    assert score == pytest.approx({"precision": 1.0, "recall": 0.0, "f1": 0.0})
    # Dropping the special tokens first (what this module did before) cannot see that match.
    dropped = ts.bertscore_from_embeddings(pred.vectors[1:2], ref.vectors[1:2])
    assert dropped["precision"] == 0.0


def test_idf_weights_are_bert_scores_formula() -> None:
    v = np.eye(4)
    corpus = [encoded([CLS, 5, 6, SEP], v), encoded([CLS, 5, 7, SEP], v), encoded([CLS, 5, 5, SEP], v)]
    weigh = ts.idf_weights(corpus)
    n = 3
    # [CLS]/[SEP] and 5 are in every text -> log(4/4) = 0; 6 in one -> log(4/2); 9 unseen -> log(4).
    got = weigh(encoded([CLS, 5, 6, 9, SEP], np.eye(5)))
    assert got == pytest.approx([0.0, 0.0, math.log((n + 1) / 2), math.log(n + 1), 0.0])


def test_weighted_bertscore_and_moverscore_by_hand() -> None:
    e1, e2 = np.eye(2)
    pred, ref = np.stack([e1, e2]), np.stack([e1])
    # e1 matches (1), e2 does not (0): precision is their weighted mean.
    assert ts.bertscore_from_embeddings(pred, ref, np.array([3.0, 1.0]), np.array([1.0]))[
        "precision"
    ] == pytest.approx(0.75)
    # All reference mass sits on e1; the 1/4 of the prediction's mass on e2 moves at cost 1.
    assert ts.moverscore_from_embeddings(pred, ref, np.array([3.0, 1.0]), np.array([1.0])) == pytest.approx(
        0.75
    )
    assert ts.moverscore_from_embeddings(pred, ref) == pytest.approx(0.5)  # uniform: half moves
    assert ts.moverscore_from_embeddings(pred, ref, np.zeros(2), np.ones(1)) == 0.0


@pytest.mark.slow
def test_moverscore_idf_discounts_words_every_reference_shares() -> None:
    refs = [
        ["the warranty lasts ten years"],
        ["the warranty covers the battery"],
        ["the warranty excludes water damage"],
    ]
    preds = ["the warranty is good", "the warranty covers the battery", "water damage is excluded"]
    idf = ts.moverscore(preds, refs)  # idf is the default
    uniform = ts.moverscore(preds, refs, idf=False)
    # "the warranty" is in every reference: idf 0. Sharing only it is worth much less with idf...
    assert idf[0] < uniform[0] - 0.2
    # ...an exact answer still scores 1 (one idf table weighs both sides)...
    assert idf[1] == pytest.approx(1.0) and uniform[1] == pytest.approx(1.0)
    # ...and sharing the rare words ("water damage") is worth more.
    assert idf[2] > uniform[2]
    # One reference: all its tokens have idf 0 (degenerate), so its weights fall back to uniform
    # and an exact answer still scores 1 instead of NaN or 0.
    assert ts.moverscore(refs[0], refs[:1]) == pytest.approx([1.0])
    assert ts.bertscore_f1(refs[0], refs[:1], idf=True) == pytest.approx([1.0])


@pytest.mark.slow
def test_token_embeddings_keep_their_old_shape_without_special_tokens() -> None:
    (vectors,) = ts.token_embeddings(["the cat sat"])
    (full,) = ts.encode(["the cat sat"])
    assert full.special.tolist() == [True, False, False, False, True]
    assert vectors.shape == (3, full.vectors.shape[1])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)


PARITY_PREDS = [
    "the cat sat on the mat",
    "bananas are yellow",
    "보증 기간은 10년입니다",
    "Support opens at nine on weekdays.",
    "배터리 보증 기간은 10년입니다.",
]
PARITY_REFS = [
    ["a cat was sitting on the mat"],
    ["a cat was sitting on the mat", "yellow fruit is ripe"],
    ["배터리 보증 기간은 10년입니다"],
    ["From nine to six on weekdays."],
    # Over 256 word pieces (sentence-transformers' limit for MiniLM): bert-score truncates at 512.
    [" ".join(f"{i}번째 배터리 보증 조건은 설치일로부터 10년입니다." for i in range(40))],
]
# bert-score 0.3.13 cannot encode "" under transformers 5 (build_inputs_with_special_tokens is
# gone), so empty answers are checked on their own: 0, as bert-score scored them.


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("bert_score") is None,
    reason="bert-score not installed (pip install -e '.[dev]')",
)
@pytest.mark.parametrize("idf", [False, True])
def test_bertscore_parity_with_the_bert_score_package(idf: bool) -> None:
    import bert_score

    from llmpilot.embedding.local import minilm_folder

    flat = [r for refs in PARITY_REFS for r in refs]
    scorer = bert_score.BERTScorer(
        model_type=str(minilm_folder()), num_layers=6, idf=idf, idf_sents=flat if idf else None, nthreads=0
    )
    _, _, expected = scorer.score(PARITY_PREDS, PARITY_REFS)
    ours = ts.bertscore_f1(PARITY_PREDS, PARITY_REFS, idf=idf)
    assert ours == pytest.approx(expected.tolist(), abs=1e-4)
    # Precision and recall too (single references, so bert-score's per-column maxima are one row).
    single = [i for i, refs in enumerate(PARITY_REFS) if len(refs) == 1]
    p, r, _ = scorer.score([PARITY_PREDS[i] for i in single], [PARITY_REFS[i] for i in single])
    full = [ts.bertscore(PARITY_PREDS, PARITY_REFS, idf=idf)[i] for i in single]
    assert [s["precision"] for s in full] == pytest.approx(p.tolist(), abs=1e-4)
    assert [s["recall"] for s in full] == pytest.approx(r.tolist(), abs=1e-4)


@pytest.mark.slow
def test_empty_answers_score_zero() -> None:
    assert ts.bertscore_f1(["", "  "], [["the cat"], ["the cat"]]) == [0.0, 0.0]
    assert ts.bertscore_f1([""], [["the cat"]], idf=True) == [0.0]
    assert ts.moverscore([""], [["the cat"]]) == [0.0]
