"""The extractive answerer through the one answer path: the pipeline hands it the numbered sources
(SourceAnswerer), the policy verifies its [n] markers and sentence support like any generator's."""

from __future__ import annotations

import pytest

from llmpilot.answering import Responder
from llmpilot.pipeline import Pipeline
from tests.fixtures.serving import keyword_project


@pytest.fixture(scope="module")
def responder(tmp_path_factory: pytest.TempPathFactory) -> Responder:
    project = keyword_project(tmp_path_factory.mktemp("extractive"), generator={"name": "extractive"})
    return Responder(Pipeline(project))


@pytest.mark.parametrize(
    ("question", "fact", "doc"),
    [
        ("When is phone support open on Saturday?", "10:00 to 14:00", "support.txt"),
        ("How many years does the SolBox 10 battery warranty last?", "10 years", "warranty.md"),
        ("반품 운송비는 얼마인가요?", "15만 원", "returns_ko.txt"),
    ],
)
def test_extractive_answers_quote_the_fact_with_a_verified_citation(
    responder: Responder, question: str, fact: str, doc: str
) -> None:
    answer = responder.ask(question)
    assert not answer.abstained, answer.reason
    assert fact in answer.text
    assert answer.citations and any(c.doc_id.endswith(doc) for c in answer.citations)
    assert answer.support == 1.0 and answer.fallback == ""
    assert answer.usage.prompt_tokens == 0  # no prompt was read: no LLM


def test_extractive_has_nothing_to_say_off_topic(responder: Responder) -> None:
    answer = responder.ask("Who painted the Mona Lisa?")
    assert answer.abstained
