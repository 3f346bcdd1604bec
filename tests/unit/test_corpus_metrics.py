"""Corpus-level BLEU and chrF (sacrebleu parity, hand-computed Korean) and their bootstrap CIs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sacrebleu

from llmpilot.evaluation import answer_metrics as am
from llmpilot.evaluation.bootstrap import bootstrap_ci, bootstrap_statistic_ci

REF_KO = "배터리 보증 기간은 10년입니다"  # 8 morphemes
PREDS = [
    "the cat sat on the mat",
    "phone support opens at ten on saturday",
    "completely unrelated words here",
]
REFS = [
    ["the cat is on the mat"],
    ["support is open from ten to two on saturday"],
    ["the warranty lasts ten years"],
]
PREDS5 = [*PREDS, "support is open on saturday", "the warranty lasts ten years"]
REFS5 = [*REFS, ["support is open from ten to two on saturday"], ["the warranty lasts ten years"]]


def test_english_corpus_scores_match_sacrebleu() -> None:
    # Lowercase words without punctuation: our tokens are sacrebleu's 13a tokens.
    stream = [r[0] for r in REFS]
    assert am.corpus_bleu(PREDS, REFS) == pytest.approx(sacrebleu.corpus_bleu(PREDS, [stream]).score / 100)
    assert am.corpus_chrf(PREDS, REFS) == pytest.approx(sacrebleu.corpus_chrf(PREDS, [stream]).score / 100)


def test_variable_reference_counts_match_sacrebleu_streams_padded_with_none() -> None:
    preds = ["the cat sat on the mat", "support opens at ten"]
    refs = [["the cat is on the mat", "a cat sat on a mat"], ["support is open at ten"]]
    streams = [["the cat is on the mat", "support is open at ten"], ["a cat sat on a mat", None]]
    assert am.corpus_bleu(preds, refs) == pytest.approx(sacrebleu.corpus_bleu(preds, streams).score / 100)
    assert am.corpus_chrf(preds, refs) == pytest.approx(sacrebleu.corpus_chrf(preds, streams).score / 100)


def test_hand_computed_korean_corpus_bleu_is_not_the_mean_of_sentence_bleu() -> None:
    # An exact answer (8 morphemes) and the reference minus its first morpheme (7): every n-gram of
    # both occurs in the reference, so all corpus precisions are 1 and BLEU is the corpus brevity
    # penalty exp(1 - 16/15); the sentence-level mean is (1 + exp(1 - 8/7)) / 2.
    preds, refs = [REF_KO, "보증 기간은 10년입니다"], [[REF_KO], [REF_KO]]
    assert am.corpus_bleu(preds, refs) == pytest.approx(math.exp(1 - 16 / 15))
    sentence_mean = np.mean([am.bleu(p, r) for p, r in zip(preds, refs, strict=True)])
    assert sentence_mean == pytest.approx((1 + math.exp(1 - 8 / 7)) / 2)
    assert am.corpus_bleu(preds, refs) != pytest.approx(sentence_mean)
    assert am.corpus_chrf([REF_KO, REF_KO], refs) == pytest.approx(1.0)


def test_korean_corpus_bleu_uses_morphemes_not_whitespace_words() -> None:
    # On whitespace words "보증 기간은 10년입니다" shares no 4-gram with the reference's 4 words;
    # on morphemes all its n-grams match.
    preds, refs = ["보증 기간은 10년입니다"], [[REF_KO]]
    assert am.corpus_bleu(preds, refs) == pytest.approx(math.exp(1 - 8 / 7))
    assert sacrebleu.corpus_bleu(preds, [[REF_KO]]).score / 100 < 0.5


def test_bootstrap_statistic_draws_the_same_resamples_as_bootstrap_ci() -> None:
    values = np.array([0.1, 0.9, 0.4, 0.7, 0.3])
    assert bootstrap_statistic_ci(
        len(values), lambda idx: float(values[idx].mean()), seed=3
    ) == pytest.approx(bootstrap_ci(values, seed=3))
    assert bootstrap_statistic_ci(1, lambda idx: 0.5) == (0.5, 0.5, 0.5)
    with pytest.raises(ValueError):
        bootstrap_statistic_ci(0, lambda idx: 0.0)


def test_corpus_ci_equals_recomputing_sacrebleu_on_each_resample() -> None:
    preds, refs = PREDS5, REFS5

    def recomputed(idx: np.ndarray, corpus: object) -> float:
        hyps = [preds[i] for i in idx]
        streams = [[refs[i][0] for i in idx]]
        return float(corpus(hyps, streams).score) / 100  # type: ignore[operator]

    for kind, corpus in (("bleu", sacrebleu.corpus_bleu), ("chrf", sacrebleu.corpus_chrf)):
        fast = am.corpus_score_ci(kind, preds, refs, n_resamples=40, seed=7)  # type: ignore[arg-type]
        slow = bootstrap_statistic_ci(
            len(preds), lambda idx, c=corpus: min(1.0, recomputed(idx, c)), n_resamples=40, seed=7
        )
        assert fast == pytest.approx(slow), kind
        assert fast[1] < fast[0] < fast[2]


def test_corpus_ci_is_deterministic_and_degenerate_when_every_answer_is_exact() -> None:
    first = am.corpus_score_ci("chrf", PREDS5, REFS5, n_resamples=50, seed=1)
    assert am.corpus_score_ci("chrf", PREDS5, REFS5, n_resamples=50, seed=1) == first
    assert am.corpus_score_ci("chrf", PREDS5, REFS5, n_resamples=50, seed=2) != first  # the seed is used
    exact = am.corpus_score_ci("chrf", [r[0] for r in REFS], REFS)
    assert exact == pytest.approx((1.0, 1.0, 1.0))


def test_corpus_scores_reject_bad_input_clearly() -> None:
    with pytest.raises(ValueError, match="at least one reference"):
        am.corpus_bleu(["a"], [[]])
    with pytest.raises(ValueError, match="2 predictions but 1"):
        am.corpus_chrf(["a", "b"], [["a"]])
    with pytest.raises(ValueError, match="at least one prediction"):
        am.corpus_bleu([], [])
