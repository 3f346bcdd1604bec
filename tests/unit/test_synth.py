from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from llmpilot.config import PipelineConfig, parse_config
from llmpilot.evaluation.datasets import load_dataset
from llmpilot.evaluation.synth import parse_draft, synthesize
from llmpilot.types import Document

DOCS = [
    Document(
        id="ko",
        text="솔박스 10의 보증 기간은 설치일로부터 10년입니다. 용량이 70% 아래로 떨어지면 교체합니다.",
    ),
    Document(id="en", text="Phone support is open from 10:00 to 14:00 on Saturdays and closed on Sundays."),
    Document(id="empty", text="   "),
]


def test_parse_draft_handles_fences_and_noise() -> None:
    assert parse_draft('```json\n{"question": "보증 기간은?", "answer": "10년"}\n```') == (
        "보증 기간은?",
        "10년",
    )
    assert parse_draft('Sure! {"question": "When?", "answer": "Sat"} hope it helps') == ("When?", "Sat")
    assert parse_draft('{"question": "", "answer": "x"}') is None
    assert parse_draft("Question: when? Answer: now") is None


class ScriptedGenerator:
    """Replies from a script: logic test of retries and output layout (the real model is tested below)."""

    model_id = "scripted"

    def __init__(self, replies: list[str]) -> None:
        self.replies = replies
        self.calls = 0

    def generate(self, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float) -> str:
        self.calls += 1
        return self.replies.pop(0)

    def stream(
        self, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float
    ) -> Iterator[str]:
        yield self.generate(messages, max_tokens=max_tokens, temperature=temperature)


def test_synthesize_writes_a_loadable_dataset_with_spans_and_reports_skips(tmp_path: Path) -> None:
    gen = ScriptedGenerator(['{"question": "보증 기간은?", "answer": "10년"}', "no json", "still none"])
    report = synthesize(
        DOCS, parse_config({"chunking": {"size": 200, "overlap": 0}}), gen, tmp_path, n=3, seed=1
    )
    assert report.requested == 2  # the empty document is never sampled
    assert report.written == 1 and len(report.skipped) == 1 and "unparseable" in report.skipped[0]["reason"]
    ds = load_dataset(tmp_path)
    assert len(ds.queries) == 1 and ds.queries[0].answers == ["10년"]
    ((doc_id, spans),) = ds.spans[ds.queries[0].id].items()
    doc = next(d for d in DOCS if d.id == doc_id)
    start, end = spans[0]
    assert doc.text[start:end].strip()


@pytest.mark.slow
def test_synthesize_with_the_real_local_model(tmp_path: Path) -> None:
    from llmpilot import registry

    cfg = PipelineConfig()
    generator = registry.generators.get("llama-cpp")(cfg.generator)
    report = synthesize(DOCS[:2], cfg, generator, tmp_path, n=2, attempts=1)
    assert report.written + len(report.skipped) == 2
    load_dataset(tmp_path, include_unjudged=True)
