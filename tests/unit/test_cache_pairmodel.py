"""The learned pair verifier: its features, the shipped weights against the training script's own
scores, the fit (signs, balance, AUC), and the verdicts on minimal pairs and a plain paraphrase
with real multilingual-e5-small cosines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from llmpilot import factory
from llmpilot.cache.pairmodel import (
    DEFAULT_MODEL,
    FEATURES,
    SIGNS,
    PairModel,
    auc,
    fit_logistic,
    load_model,
    pair_features,
)
from llmpilot.cache.verify import Verifier
from llmpilot.config import CacheVerifyConfig, EmbedderConfig
from llmpilot.errors import LlmpilotError

V = Verifier(CacheVerifyConfig(mode="model"))


def feats(asked: str, cached: str, cosine: float = 0.95) -> dict[str, float]:
    values = pair_features(V.features(asked), V.features(cached), cosine).values
    assert values.shape == (len(FEATURES),)
    return dict(zip(FEATURES, values.tolist(), strict=True))


def test_features_of_the_same_question() -> None:
    f = feats("How long is the SolBox warranty?", "How long is the SolBox warranty?", 1.0)
    assert f["cosine"] == 1.0 and f["cosine_ko"] == 0.0 and f["is_ko"] == 0.0
    for name in ("content_jaccard", "key_jaccard", "char3_jaccard", "length_ratio", "same_share"):
        assert f[name] == 1.0, name
    flags = [n for n, s in SIGNS.items() if s < 0 and n != "changed_share"]
    assert all(f[n] == 0.0 for n in flags)


@pytest.mark.parametrize(
    ("asked", "cached", "flag"),
    [
        ("SolBox 10 배터리 보증은 몇 년인가요?", "SolBox 12 배터리 보증은 몇 년인가요?", "number_conflict"),
        ("SolBox 배터리 보증은 몇 년인가요?", "SolBox 12 배터리 보증은 몇 년인가요?", "number_one_sided"),
        ("How long is the PowerMax warranty?", "How long is the SolBox warranty?", "entity_swap"),
        ("환불 가능한가요?", "환불 불가능한가요?", "negation_presence_differs"),
        ("서울에서 가는 기차는 몇 시에 있나요?", "서울로 가는 기차는 몇 시에 있나요?", "particle_mismatch"),
        ("Is parking free before 6 PM?", "Is parking free after 6 PM?", "relation_word_swap"),
        ("How do I downgrade my plan?", "How do I upgrade my plan?", "lookalike_swap"),
        (
            "Can I move from Windows 10 to Windows 11?",
            "Can I move from Windows 11 to Windows 10?",
            "word_order_differs",
        ),
    ],
)
def test_each_rule_verdict_is_a_feature(asked: str, cached: str, flag: str) -> None:
    assert feats(asked, cached)[flag] == 1.0
    assert feats(asked, asked)[flag] == 0.0


def test_korean_pairs_carry_the_language_terms() -> None:
    f = feats("배송은 얼마나 걸리나요?", "배송 기간이 어떻게 되나요?", 0.93)
    assert f["is_ko"] == 1.0 and f["cosine_ko"] == pytest.approx(0.93)


def test_shipped_weights_give_the_training_scripts_scores() -> None:
    raw = json.loads(DEFAULT_MODEL.read_text(encoding="utf-8"))
    model = load_model()
    assert raw["check"], "the training script stores reference rows"
    for row in raw["check"]:
        got = model.probability(V.features(row["asked"]), V.features(row["cached"]), row["cosine"])
        assert got == pytest.approx(row["probability"], abs=1e-7), row
    # Every weight honours its sign constraint, and the file says how it was made.
    for name, w in zip(model.features, model.weights, strict=True):
        assert np.sign(w) * SIGNS[name] >= 0, name
    assert raw["trained_by"] == "benchmarks/cache_pair_model.py" and raw["rows"]["fit"]["paraphrase"] > 0
    assert raw["holdout_auc"] > 0.5


def test_fit_separates_and_respects_signs() -> None:
    rng = np.random.default_rng(0)
    n = 400
    y = (rng.random(n) < 0.3).astype(float)
    x = rng.normal(size=(n, len(FEATURES)))
    cos = FEATURES.index("cosine")
    entity = FEATURES.index("entity_swap")
    x[:, cos] += 2.0 * y  # paraphrases are closer
    x[:, entity] = ((rng.random(n) < 0.5) & (y < 0.5)).astype(float)  # only negatives swap names
    # A similarity that (by chance in this data) looks harmful must not get a negative weight.
    x[:, FEATURES.index("char3_jaccard")] -= 1.5 * y
    model = fit_logistic(x, y)
    p = model.probabilities(x)
    assert auc(p, y) > 0.9
    assert model.weights[cos] > 0 and model.weights[entity] < 0
    assert model.weights[FEATURES.index("char3_jaccard")] == 0.0
    again = PairModel.from_json(json.loads(json.dumps(model.to_json())))
    assert np.allclose(again.probabilities(x), p, atol=1e-8)


def test_auc_matches_the_pairwise_definition() -> None:
    rng = np.random.default_rng(1)
    s = np.round(rng.random(60), 1)  # ties on purpose
    y = rng.random(60) < 0.4
    pos, neg = s[y], s[~y]
    brute = np.mean([(a > b) + 0.5 * (a == b) for a in pos for b in neg])
    assert auc(s, y) == pytest.approx(brute)


def test_a_broken_model_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "pair-model.json"
    bad.write_text(json.dumps({"features": ["cosine"], "mean": [0], "scale": [1], "weights": [1], "bias": 0}))
    with pytest.raises(LlmpilotError, match="does not match this llmpilot's pair features"):
        load_model(str(bad))
    with pytest.raises(LlmpilotError, match="cannot read the cache pair model"):
        load_model(str(tmp_path / "missing.json"))


@pytest.fixture(scope="module")
def cosine() -> object:
    embedder = factory.embedder(EmbedderConfig())

    def cos(a: str, b: str) -> float:
        va, vb = np.asarray(embedder.embed([a, b], "query"), dtype=np.float64)
        return float(va @ vb / np.linalg.norm(va) / np.linalg.norm(vb))

    return cos


@pytest.mark.parametrize(
    ("asked", "cached", "reason"),
    [
        ("SolBox 10 배터리 보증은 몇 년인가요?", "SolBox 12 배터리 보증은 몇 년인가요?", "number 10 != 12"),
        ("How long is the SolBox 10 warranty?", "How long is the SolBox 12 warranty?", "number 10 != 12"),
        ("환불 가능한가요?", "환불 불가능한가요?", "negation differs"),
        ("서울에서 가는 기차는 몇 시에 있나요?", "서울로 가는 기차는 몇 시에 있나요?", "particle 에서 != 로"),
    ],
)
def test_minimal_pairs_are_rejected_in_model_mode(asked: str, cached: str, reason: str, cosine) -> None:  # type: ignore[no-untyped-def]
    c = cosine(asked, cached)
    assert c > 0.95  # the encoder alone would serve them
    verdict = V.check(V.features(asked), V.features(cached), cosine=c)
    assert not verdict.ok and reason in verdict.reasons[0]


def test_a_plain_paraphrase_is_accepted_in_both_modes(cosine) -> None:  # type: ignore[no-untyped-def]
    asked = "How many years does the SolBox 10 battery warranty last?"
    cached = "How many years does the battery warranty of the SolBox 10 last?"
    c = cosine(asked, cached)
    verdict = V.check(V.features(asked), V.features(cached), cosine=c)
    assert verdict.ok and verdict.score >= V.cfg.min_probability
    rules = Verifier(CacheVerifyConfig(mode="rules"))
    assert rules.check(rules.features(asked), rules.features(cached)).ok


def test_model_rejection_names_what_differs() -> None:
    strict = Verifier(CacheVerifyConfig(mode="model", min_probability=0.99))
    verdict = strict.check(
        strict.features("Is parking free before 6 PM?"),
        strict.features("Is parking free after 6 PM?"),
        cosine=0.99,
    )
    assert not verdict.ok
    assert verdict.reasons[0].startswith("pair model") and "word before != after" in verdict.reasons[0]
    # Without a cosine the model still answers (the training mean stands in for it).
    assert 0.0 <= strict.check(strict.features("a b c"), strict.features("a b c")).score <= 1.0
