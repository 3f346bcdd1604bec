"""Pairwise win rate with real components: SmolLM2 (llama-cpp) against the extractive answerer on the
sample corpus, through the project's answer path, judged by SmolLM2 in both orders. Structure only:
what a 135M judge prefers is no quality claim."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmpilot.models.pairwise import ANSWERS_FILE, PairQuestion, run_pairwise
from llmpilot.models.pairwise_specs import parse_spec
from tests.fixtures.serving import keyword_project

pytestmark = pytest.mark.slow

QUESTIONS = [
    PairQuestion("support", "When is phone support open on Saturday?"),
    PairQuestion("returns", "반품 운송비는 얼마인가요?"),
]


def test_smollm2_against_extractive_judged_in_both_orders(tmp_path: Path) -> None:
    project = keyword_project(
        tmp_path,
        generator={"name": "llama-cpp", "max_tokens": 24, "n_threads": 2, "temperature": 0.0},
        retrieval={"mode": "keyword", "top_k": 2},
        prompt={"max_context_chars": 800},
        # No retry, and an unsupported answer abstains instead of quoting the sources: otherwise
        # SmolLM2's weak answers become the extractive answer and there is nothing to judge.
        answer={"abstain_below": 0.0, "retry": False, "fallback": "abstain"},
    )
    base = project.config.generator
    smol, extractive = parse_spec("smollm2-135m", base), parse_spec("extractive", base)
    out = tmp_path / "out"
    result = run_pairwise(smol, extractive, smol, QUESTIONS, project=project, out=out, judge_max_tokens=12)
    s = result.summary()
    assert (s["model_a"], s["model_b"], s["judge"]) == ("smollm2-135m", "extractive", "smollm2-135m")
    assert s["n"] + s["missing"] == len(QUESTIONS) == len(result.records)
    assert s["wins"] + s["losses"] + s["ties"] == s["n"]
    judged = [r for r in result.records if r.judgements]
    assert judged, "the two answerers gave the same text for every question: nothing was judged"
    for record in result.records:
        # The extractive answer quotes the retrieved source; SmolLM2 answers from the same sources.
        assert record.answer_b.text and record.answer_b.sources == record.answer_a.sources
        assert record.outcome in ("a", "b", "tie", "missing")
    for record in judged:
        assert [j.order for j in record.judgements] == ["ab", "ba"]  # both orders, every time
        for j in record.judgements:
            assert j.raw.strip() or j.verdict is None
            assert (j.verdict is None) == bool(j.reason)  # missing always says why
    if s["n"]:
        assert 0.0 <= s["ci"][0] <= s["win_rate"] <= s["ci"][1] <= 1.0
    assert len((out / ANSWERS_FILE).read_text(encoding="utf-8").splitlines()) == 2 * len(QUESTIONS)

    # A rerun makes no answer again.
    again = run_pairwise(smol, extractive, smol, QUESTIONS, project=project, out=out, judge_max_tokens=12)
    assert again.reused["answers"] == 2 * len(QUESTIONS)
    assert [r.outcome for r in again.records] == [r.outcome for r in result.records]
    project.close()
