"""The verifier: minimal pairs (Korean and English) that must be rejected, with the reason a user
reads, and paraphrases that must pass."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from llmpilot.cache.verify import QuestionFeatures, Verifier
from llmpilot.config import CacheVerifyConfig

V = Verifier(CacheVerifyConfig(min_content_overlap=0.0))


def reasons(asked: str, cached: str, verifier: Verifier = V) -> list[str]:
    return verifier.check(verifier.features(asked), verifier.features(cached)).reasons


@pytest.mark.parametrize(
    ("asked", "cached", "reason"),
    [
        # numbers, dates, units
        ("SolBox 3 배터리 보증 기간은?", "SolBox 2 배터리 보증 기간은?", "number 3 != 2"),
        ("연차를 10일 연속으로 쓸 수 있나요?", "연차를 3일 연속으로 쓸 수 있나요?", "date 10일 != 3일"),
        (
            "Can I return an item within 60 days?",
            "Can I return an item within 14 days?",
            "date 60 day != 14 day",
        ),
        ("3월 5일에 배송되나요?", "4월 5일에 배송되나요?", "date 3월 != 4월"),
        ("Is the parcel limit 3 kg?", "Is the parcel limit 3 g?", "unit kg != g"),
        ("세 개 주문하면 할인되나요?", "다섯 개 주문하면 할인되나요?", "number 3개 != 5개"),
        # entities
        ("PowerMax 보증은 몇 년인가요?", "SolBox 보증은 몇 년인가요?", "entity PowerMax != SolBox"),
        (
            "How long is the PowerMax warranty?",
            "How long is the SolBox warranty?",
            "entity PowerMax != SolBox",
        ),
        # negation
        ("30일 안에 환불이 안 되나요?", "30일 안에 환불이 되나요?", "negation differs"),
        ("Why can't I log in?", "Why can I log in?", "negation differs"),
        # Korean particles
        ("서울에서 부산으로 가는 기차는?", "서울로 부산에서 가는 기차는?", "particle"),
        # look-alike rule: one word swapped, no list names it
        ("요금제를 다운그레이드하려면?", "요금제를 업그레이드하려면?", "word"),
        ("How do I downgrade my plan?", "How do I upgrade my plan?", "word downgrade != upgrade"),
        (
            "How do I move files from my phone to my laptop?",
            "How do I move files from my laptop to my phone?",
            "word order differs",
        ),
        # two words trading places around a third, and a phrase whose relation words changed objects
        (
            "How do I convert an Excel file to CSV?",
            "How do I convert a CSV file to Excel?",
            "word order differs",
        ),
        (
            "Can I move from Windows 10 to Windows 11?",
            "Can I move from Windows 11 to Windows 10?",
            "word order",
        ),
        # "one" as a number still counts
        ("Can I add one more user?", "Can I add two more users?", "number 1 != 2"),
        # language
        ("Is the data cap 5 GB?", "데이터 한도는 5GB인가요?", "language en != ko"),
    ],
)
def test_minimal_pairs_are_rejected_with_a_reason(asked: str, cached: str, reason: str) -> None:
    got = reasons(asked, cached)
    assert got, f"{asked!r} vs {cached!r} passed"
    assert got[0].startswith(reason), got


@pytest.mark.parametrize(
    ("asked", "cached"),
    [
        ("노트북 보증 기간이 몇 년이에요?", "노트북 보증 기간은 몇 년인가요?"),
        ("비밀번호 재설정은 어떻게 하나요?", "비밀번호를 재설정하는 방법을 알려주세요."),
        ("어디서 교환 신청을 하면 되나요?", "교환 신청은 어디에서 하나요?"),
        ("Tell me how to reset my password.", "How do I reset my password?"),
        ("What is the warranty period for the laptop?", "How long is the laptop warranty?"),
        ("How can I reset my password", "how do I reset my password?"),
        ("Tasks is a platform for ML projects.", "Tasks is a platform for Machine Learning projects."),
        # a phrase moved as a whole ("X of Y" / "Y X"), its relations intact
        (
            "How many years does the SolBox 10 battery warranty last?",
            "How many years does the battery warranty of the SolBox 10 last?",
        ),
        # "one" as a pronoun is not the number 1
        ("How can one check the hash of an object?", "How do I check the hash of an object?"),
    ],
)
def test_paraphrases_pass(asked: str, cached: str) -> None:
    assert reasons(asked, cached) == []


def test_content_overlap_is_the_score_and_a_knob() -> None:
    strict = Verifier(CacheVerifyConfig(min_content_overlap=0.9))
    asked, cached = "How long is the laptop warranty?", "What is the warranty period for the laptop?"
    verdict = strict.check(strict.features(asked), strict.features(cached))
    assert not verdict.ok and 0.0 < verdict.score < 0.9
    assert verdict.reasons == [f"content overlap {verdict.score:.2f} < 0.90"]


def test_each_check_can_be_switched_off() -> None:
    assert reasons("SolBox 3 보증은?", "SolBox 2 보증은?", Verifier(CacheVerifyConfig(numbers=False,
                   max_substitution=0, min_content_overlap=0.0))) == []  # fmt: skip
    off = Verifier(CacheVerifyConfig(mode="off"))
    verdict = off.check(off.features("Is it 3 years?"), off.features("Is it not 5 years?"))
    assert verdict.ok and verdict.reasons == []  # GPTCache's rule: the threshold alone decides


def test_features_round_trip_through_json() -> None:
    feats = V.features("SolBox 10 배터리를 3월 5일에 서울에서 받을 수 없나요?")
    assert feats.negations == 1 and "10|" in feats.numbers and "3|월" in feats.numbers
    assert QuestionFeatures.from_json(feats.to_json()) == feats
    assert "서울|에서" in feats.particles and "SolBox" in feats.entities


def test_kiwi_is_shared_safely_between_threads() -> None:
    texts = [f"SolBox {i} 배터리는 {i}년 보증되나요?" for i in range(40)]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(V.features, texts))
    assert got == [V.features(t) for t in texts]
