"""Hand-computed Korean and English cases for the answer metrics (parity tests against sacrebleu and
rouge-score live in test_answer_metrics.py)."""

from __future__ import annotations

import math

import pytest

from llmpilot.evaluation import answer_metrics as am

REF_KO = "배터리 보증 기간은 10년입니다"


def test_korean_is_split_into_morphemes_and_english_into_lowercased_words() -> None:
    assert am.tokenize(REF_KO) == ["배터리", "보증", "기간", "은", "10", "년", "이", "ᆸ니다"]
    assert am.tokenize("The Cat's mat, 2024!") == ["the", "cat", "s", "mat", "2024"]


def test_hand_computed_korean_bleu() -> None:
    # The prediction is the reference minus its first morpheme (7 of 8): every 1..4-gram of it occurs
    # in the reference, so all precisions are 1 and BLEU is the brevity penalty exp(1 - 8/7).
    assert am.bleu("보증 기간은 10년입니다", [REF_KO]) == pytest.approx(math.exp(1 - 8 / 7))
    assert am.bleu("the cat sat on the mat", ["the cat sat on the mat"]) == pytest.approx(1.0)


def test_hand_computed_korean_chrf() -> None:
    # Characters, spaces removed: "보증" vs "보증기간". Orders 1 and 2 only (the prediction has no
    # 3-grams): precision 1 and 1, recall 2/4 and 1/3 -> mean P 1, mean R 5/12;
    # F(beta=2) = 5 P R / (4 P + R) = 25/53.
    assert am.chrf("보증", ["보증 기간"]) == pytest.approx(25 / 53)
    assert am.chrf(REF_KO, [REF_KO]) == pytest.approx(1.0)


def test_hand_computed_korean_rouge() -> None:
    # 2 prediction morphemes, 8 reference morphemes, both shared: P 1, R 1/4 -> F1 0.4.
    # One bigram (보증, 기간) of 7 reference bigrams: P 1, R 1/7 -> F1 0.25.
    assert am.rouge("보증 기간", [REF_KO]) == pytest.approx({"rouge1": 0.4, "rouge2": 0.25, "rougeL": 0.4})


@pytest.mark.skipif(
    not am.WORDNET_DIR.exists(),
    reason="Debian wordnet-base not installed: run `bash scripts/install_debian_deps.sh` as root",
)
def test_hand_computed_meteor_with_stems_and_wordnet_synonyms() -> None:
    # "auto" ~ "car" through WordNet (car.n.01): 4 of 4 unigrams match in one chunk -> Fmean 1,
    # penalty 0.5 * (1/4)^3 -> 0.9921875. Exact matches alone (the, is, fast) give Fmean 0.75 and
    # 2 chunks -> penalty 0.5 * (2/3)^3 -> 0.75 * (1 - 4/27).
    exact_only = 0.75 * (1 - 4 / 27)
    assert am.meteor("the auto is fast", ["the car is fast"]) == pytest.approx(0.9921875)
    assert am.meteor("the banana is fast", ["the car is fast"]) == pytest.approx(exact_only)
    # Synonyms are looked up on the words: "automobile" ~ "car" (car.n.01) aligns like "auto" does.
    assert am.meteor("the automobile is fast", ["the car is fast"]) == pytest.approx(0.9921875)
    # Stock nltk looks them up on Porter stems ("automobil": no synset), so it misses that match.
    stock = am.meteor("the automobile is fast", ["the car is fast"], nltk_compat=True)
    assert stock == pytest.approx(exact_only)
    # Porter stems: "cats" ~ "cat"; 3 of 3 in one chunk -> 1 - 0.5 * (1/3)^3.
    assert am.meteor("the cats sat", ["the cat sat"]) == pytest.approx(1 - 1 / 54)


@pytest.mark.skipif(
    not am.WORDNET_DIR.exists(),
    reason="Debian wordnet-base not installed: run `bash scripts/install_debian_deps.sh` as root",
)
def test_meteor_synonym_pairs_whose_stems_wordnet_does_not_know_beat_unrelated_words() -> None:
    # Every synonym here has a Porter stem that is not a WordNet lemma (larg, happi, purchas).
    ref = ["the large house made them happy"]
    synonyms = am.meteor("the big house made them glad", ref)
    unrelated = am.meteor("the blue house made them tired", ref)
    # 6 of 6 words align (the, house, made, them exact; big~large, glad~happy synonyms) in one chunk.
    assert synonyms == pytest.approx(1 - 0.5 * (1 / 6) ** 3)
    assert unrelated < synonyms
    # Stock nltk matches only the four exact words: no better than the unrelated answer.
    assert am.meteor("the big house made them glad", ref, nltk_compat=True) == pytest.approx(unrelated)


@pytest.mark.skipif(
    not am.WORDNET_DIR.exists(),
    reason="Debian wordnet-base not installed: run `bash scripts/install_debian_deps.sh` as root",
)
def test_meteor_matches_nltks_documented_example() -> None:
    from nltk.translate.meteor_score import meteor_score

    # nltk's own doctest value for this pair (computed there with nltk's WordNet download).
    hyp = "It is a guide to action which ensures that the military always obeys the commands of the party"
    ref = "It is a guide to action that ensures that the military will forever heed Party commands"
    assert round(am.meteor(hyp, [ref], nltk_compat=True), 4) == 0.6944
    stock = meteor_score([am.tokenize(ref)], am.tokenize(hyp), wordnet=am._wordnet())
    assert am.meteor(hyp, [ref], nltk_compat=True) == stock
    # With synonyms looked up on words, "always" ~ "forever" (always.r.01) aligns too; nltk asks
    # WordNet for the stem "alway". 13 matches of 18 / 16 tokens (nltk: 12) in 7 chunks.
    p, r = 13 / 18, 13 / 16
    assert am.meteor(hyp, [ref]) == pytest.approx(p * r / (0.9 * p + 0.1 * r) * (1 - 0.5 * (7 / 13) ** 3))


@pytest.mark.skipif(
    not am.WORDNET_DIR.exists(),
    reason="Debian wordnet-base not installed: run `bash scripts/install_debian_deps.sh` as root",
)
def test_hand_computed_korean_meteor_is_exact_morpheme_matching() -> None:
    # 2 of 2 prediction morphemes match (P 1), 2 of 8 reference morphemes (R 1/4):
    # Fmean = 10 P R / (R + 9 P) = 2.5 / 9.25; one chunk of 2 matches -> penalty 0.5 * (1/2)^3.
    assert am.meteor("보증 기간", [REF_KO]) == pytest.approx(2.5 / 9.25 * (1 - 0.0625))
