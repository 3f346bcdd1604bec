from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from llmpilot.evaluation.datasets import load_dataset
from llmpilot.evaluation.judge import judge, parse_score
from llmpilot.evaluation.scoring import Prediction, score_predictions


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('{"score": 5, "reason": "all supported"}', 1.0),
        ('```json\n{"score": 3}\n```', 0.5),
        ("Score: 4/5 because it is mostly right", 0.75),
        ("2", 0.25),
        ('{"score": "1"}', 0.0),
        ("I think the answer is good.", None),
        ('{"score": 9}', None),
    ],
)
def test_parse_score(reply: str, expected: float | None) -> None:
    assert parse_score(reply) == expected


class Scripted:
    """Replies from a script: tests the retry/missing logic (the real model is tested below)."""

    model_id = "scripted"

    def __init__(self, replies: list[str]) -> None:
        self.replies = replies

    def generate(self, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float) -> str:
        return self.replies.pop(0)

    def stream(
        self, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float
    ) -> Iterator[str]:
        yield self.generate(messages, max_tokens=max_tokens, temperature=temperature)


def test_unparseable_replies_are_retried_then_missing_with_the_reason() -> None:
    ok = judge(Scripted(["hmm", '{"score": 4}']), "answer_relevance", question="q", answer="a", contexts=[])
    assert ok.score == 0.75
    bad = judge(Scripted(["hmm", "no idea"]), "answer_relevance", question="q", answer="a", contexts=[])
    assert bad.score is None and "unparseable" in bad.reason


def test_missing_judgements_are_reported_not_averaged(tmp_path: Path) -> None:
    folder = tmp_path / "ds"
    folder.mkdir()
    rows = {
        "corpus": [{"id": "d1", "text": "보증 기간은 10년"}],
        "queries": [
            {"id": "q1", "text": "보증 기간은?", "answers": ["10년"]},
            {"id": "q2", "text": "보증은 몇 년?", "answers": ["10년입니다"]},
        ],
        "qrels": [{"query_id": "q1", "doc_id": "d1"}, {"query_id": "q2", "doc_id": "d1"}],
    }
    for name, items in rows.items():
        (folder / f"{name}.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in items)
        )
    ds = load_dataset(folder)
    preds = [Prediction("q1", "10년", ["보증 기간은 10년"]), Prediction("q2", "10년입니다")]
    # q1: faithfulness 5, relevance unparseable twice, context precision 3; q2: relevance 1 (no contexts).
    gen = Scripted(['{"score": 5}', "?", "??", '{"score": 3}', '{"score": 1}'])
    result = score_predictions(ds, preds, metrics=("rouge1",), judge_generator=gen)
    m = result["metrics"]
    assert m["faithfulness"] == 1.0 and m["context_precision"] == 0.5
    assert m["answer_relevance"] == 0.0  # only q2's judgement counts
    assert result["missing"]["answer_relevance"] == 1 and result["missing"]["faithfulness"] == 1
    q1 = result["per_query"][0]
    assert q1["answer_relevance"] is None and "unparseable" in q1["answer_relevance_missing"]
    assert result["per_query"][1]["faithfulness_missing"] == "no contexts in the prediction"


@pytest.mark.slow
def test_judge_with_the_real_local_model() -> None:
    from llmpilot import registry
    from llmpilot.config import GeneratorConfig

    gen = registry.generators.get("llama-cpp")(GeneratorConfig())
    verdict = judge(
        gen,
        "faithfulness",
        question="How long is the warranty?",
        answer="10 years.",
        contexts=["The battery warranty lasts 10 years from installation."],
    )
    assert verdict.score is None or 0.0 <= verdict.score <= 1.0
    assert verdict.raw.strip()


@pytest.mark.parametrize("reply", ["**Score**: 3", "Rating: 3/5", "I give it 3 out of 5."])
def test_parse_score_reads_common_free_text_forms(reply: str) -> None:
    assert parse_score(reply) == 0.5
