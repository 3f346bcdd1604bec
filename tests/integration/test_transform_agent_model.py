"""The data agent's model path with the real default generator (SmolLM2-135M through llama.cpp): decoding
constrained to the plan schema always yields a plan `parse_plan` accepts, in English and Korean, and the
preview checks leave nothing that damages the sample. What the small model proposes is not asserted: it
is often not what was asked (see the report), which is why the rules and the checks exist."""

from __future__ import annotations

import json

import pytest

from llmpilot import factory
from llmpilot.config import GeneratorConfig
from llmpilot.generation.structured import generate_json, supports_json
from llmpilot.profiling import profile_documents
from llmpilot.protocols import Generator
from llmpilot.transforms.agent import check_plan, suggest_for_request
from llmpilot.transforms.ops import apply_steps
from llmpilot.transforms.plan import line_pattern, parse_plan
from tests.unit.test_transform_agent import FOOTER, help_center

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm2() -> Generator:
    return factory.generator(GeneratorConfig(name="llama-cpp", model="smollm2-135m"))


@pytest.mark.parametrize(
    "request_text",
    ["Remove the copyright footer from every page", "모든 문서에서 저작권 바닥글을 삭제해 주세요"],
)
def test_the_model_path_returns_a_valid_plan(smollm2: Generator, request_text: str) -> None:
    assert supports_json(smollm2)
    sample = help_center()
    suggestion = suggest_for_request(request_text, profile_documents(sample), sample, generator=smollm2)

    assert suggestion.method == f"model:{smollm2.model_id}"
    assert suggestion.raw is not None
    raw_plan = parse_plan(json.loads(suggestion.raw), where="model output")  # the grammar guarantees it
    assert 1 <= len(raw_plan.steps) <= 6
    assert not any("not valid" in note for note in suggestion.notes), suggestion.notes
    assert suggestion.plan.request == request_text

    # What survives is a part of what the preview checks keep (the guard rails may drop more: steps the
    # request does not license), and it damages nothing.
    kept, _ = check_plan(raw_plan.model_copy(update={"request": request_text}), sample)
    assert all(step in kept.steps for step in suggestion.plan.steps)
    before = {doc.id: doc.text for doc in sample}
    for doc in apply_steps(suggestion.plan.steps, sample)[0]:
        if doc.id in before and doc.text != before[doc.id]:
            assert doc.text.strip() and len(doc.text) >= len(before[doc.id]) / 2


def test_profile_texts_are_offered_verbatim(smollm2: Generator) -> None:
    # Enum strings go into the grammar as JSON text: the footer's newline must come out as "\\n" and a
    # line pattern's backslashes doubled, or the answer is not JSON / not the profile's text.
    texts = [FOOTER, line_pattern("ACME 고객센터")]
    schema = {
        "type": "object",
        "properties": {"texts": {"type": "array", "items": {"enum": texts}, "minItems": 2, "maxItems": 2}},
        "required": ["texts"],
        "additionalProperties": False,
    }
    messages = [{"role": "user", "content": "Pick the two texts."}]
    answer = json.loads(generate_json(smollm2, messages, schema, 120))
    assert all(text in texts for text in answer["texts"])
