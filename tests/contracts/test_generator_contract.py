"""The generator contract (llmpilot.testing.GeneratorContract) on every built-in generator:
llama-cpp in process, and openai against a real llama-cpp-python server on 127.0.0.1 (fixture
`llamacpp_server` in tests/conftest.py), both on SmolLM2-135M-Instruct (answer quality is
irrelevant here: the model is tiny), transformers (the same model's weights, dequantized from the
GGUF, in torch), and extractive (quotes sources, no model).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from llmpilot.config import GeneratorConfig
from llmpilot.generation.models import smollm2_gguf_path
from llmpilot.protocols import Generator
from llmpilot.testing import GeneratorContract
from llmpilot.testing.generator import ENGLISH

pytestmark = pytest.mark.slow

#: The model-backed generators TestBuiltinGenerators runs the contract on.
LLM_GENERATORS = ["llama-cpp", "openai"]
#: The built-in generators this module runs the contract on (tests/contracts/test_coverage.py checks it).
COVERED = [*LLM_GENERATORS, "transformers", "extractive"]
API_KEY_ENV = "LLMPILOT_TEST_LLAMACPP_KEY"


@pytest.fixture(scope="module")
def n_tokens() -> Iterator[Callable[[str], int]]:
    """Token counter from the GGUF's own vocabulary (no weights loaded)."""
    from llama_cpp import Llama

    vocab = Llama(model_path=str(smollm2_gguf_path()), vocab_only=True, verbose=False)
    yield lambda text: len(vocab.tokenize(text.encode("utf-8"), add_bos=False))
    vocab.close()


class TestBuiltinGenerators(GeneratorContract):
    @pytest.fixture(params=LLM_GENERATORS)
    def generator_config(
        self, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
    ) -> GeneratorConfig:
        if request.param == "llama-cpp":
            return GeneratorConfig(name="llama-cpp", seed=7)
        server = request.getfixturevalue("llamacpp_server")
        monkeypatch.setenv(API_KEY_ENV, server.api_key)
        return GeneratorConfig(
            name="openai", base_url=server.base_url, model="smollm2", api_key_env=API_KEY_ENV, seed=7
        )

    @pytest.mark.parametrize("max_tokens", [1, 5])
    def test_max_tokens_counted_in_model_tokens(
        self, generator: Generator, max_tokens: int, n_tokens: Callable[[str], int]
    ) -> None:
        # Both backends stream exactly one token per delta, and the text re-tokenizes to about as many.
        assert len(list(generator.stream(ENGLISH, max_tokens=max_tokens, temperature=0.0))) == max_tokens
        text = generator.generate(ENGLISH, max_tokens=max_tokens, temperature=0.0)
        assert 1 <= n_tokens(text) <= max_tokens + 1  # +1: re-tokenizing decoded text may split differently


class TestTransformersGenerator(GeneratorContract):
    """SmolLM2 in transformers (the `finetune` extra): the base the fine-tuning adapters load on."""

    @pytest.fixture
    def generator_config(self) -> GeneratorConfig:
        return GeneratorConfig(name="transformers", model="smollm2-135m", seed=7)


class TestExtractiveGenerator(GeneratorContract):
    """The extractive answerer (no model): the contract's prompts carry no sources, so it answers
    that the sources do not say, in the question's language; max_tokens counts words."""

    @pytest.fixture
    def generator_config(self) -> GeneratorConfig:
        return GeneratorConfig(name="extractive", seed=7)


def test_llamacpp_reports_its_window_and_counts_tokens() -> None:
    from llmpilot.generation.llamacpp import LlamaCppGenerator

    gen = LlamaCppGenerator(GeneratorConfig(n_ctx=2048))
    assert gen.context_window == 2048
    short, long = gen.count_tokens("배터리"), gen.count_tokens("배터리 보증 기간은 10년입니다. " * 20)
    assert 0 < short < long
