"""The online comparison's judge and decision rules (llmpilot.monitoring.experiments)."""

from __future__ import annotations

from collections import Counter

from llmpilot.monitoring import experiments
from llmpilot.monitoring.evalset import EvalItem


def _answer(docs: list[str], *, abstained: bool = False, support: float = 1.0) -> dict[str, object]:
    return {
        "abstained": abstained,
        "citations": [{"doc_id": d} for d in docs],
        "support": support,
        "confidence": 0.7,
    }


def test_judge_uses_the_reference_when_the_eval_set_knows_the_question() -> None:
    refs = experiments.reference_index([EvalItem(id="q", question="보증 기간은?", doc_ids=["faq-09"])])
    reference = refs[experiments.normalize_question("  보증   기간은 ")]
    assert experiments.judge_answer(_answer(["faq-09", "x"]), reference)["judge"] == 1.0
    assert experiments.judge_answer(_answer(["faq-06"]), reference)["judge"] == 0.0
    assert experiments.judge_answer(_answer(["faq-09"], abstained=True), reference)["judge"] == 0.0
    policy = experiments.judge_answer(_answer(["d"], support=0.6), None)
    assert (policy["judge"], policy["judged_by"]) == (0.6, "policy")
    assert experiments.judge_answer(_answer([]), None)["judge"] == 0.0  # nothing cited: nothing supported


def test_split_arms_are_sticky_and_close_to_the_fraction() -> None:
    arms = [experiments.split_arm(7, f"key-{i}", 0.25) for i in range(4000)]
    assert abs(Counter(arms)["candidate"] / 4000 - 0.25) < 0.03
    assert arms == [experiments.split_arm(7, f"key-{i}", 0.25) for i in range(4000)]
    assert experiments.split_arm(7, "k", 1.0) == "candidate"


def test_decide_promotes_keeps_or_waits() -> None:
    better = [(0.0, 1.0)] * 6 + [(1.0, 1.0)] * 6
    assert experiments.decide(better, alpha=0.05)["verdict"] == "promote"
    worse = [(b, a) for a, b in better]
    assert experiments.decide(worse, alpha=0.05)["verdict"] == "keep"
    same = [(1.0, 1.0), (0.0, 0.0)] * 6
    assert experiments.decide(same, alpha=0.05)["verdict"] == "inconclusive"
    few = experiments.decide([(0.0, 1.0)] * 3, alpha=0.05)
    assert few["verdict"] == "inconclusive" and "at least 5" in few["evidence"]["reason"]


def test_more_negative_feedback_blocks_a_promotion() -> None:
    feedback = {
        "live": {"answers": 200, "negative": 10, "positive": 50},
        "candidate": {"answers": 200, "negative": 40, "positive": 30},
    }
    result = experiments.decide_split([0.0] * 20, [1.0] * 20, alpha=0.05, feedback=feedback)
    assert result["verdict"] == "keep" and "negative feedback" in result["evidence"]["reason"]
    calm = {"live": {"answers": 200, "negative": 10}, "candidate": {"answers": 200, "negative": 11}}
    assert experiments.decide_split([0.0] * 20, [1.0] * 20, alpha=0.05, feedback=calm)["verdict"] == "promote"


def test_two_sample_tests_match_the_textbook() -> None:
    # 30/100 vs 50/100: z = 2.89, two-sided p = 0.0039 (normal approximation).
    assert abs(experiments.two_proportion_p(30, 100, 50, 100) - 0.0039) < 0.0005
    assert experiments.two_proportion_p(0, 0, 1, 2) == 1.0
    assert experiments.unpaired_p([1.0] * 10, [0.0] * 10) < 0.01
    assert experiments.unpaired_p([0.5, 0.4, 0.6] * 5, [0.5, 0.6, 0.4] * 5) > 0.5


def test_feedback_counts_per_arm() -> None:
    traces = [
        {"variant": "live", "feedback": ["thumbs_down"]},
        {"variant": "live", "feedback": []},
        {"variant": "candidate", "feedback": ["rating:5", "copied"]},
    ]
    assert experiments.feedback_counts(traces) == {
        "live": {"answers": 2, "negative": 1, "positive": 0},
        "candidate": {"answers": 1, "negative": 0, "positive": 1},
    }
