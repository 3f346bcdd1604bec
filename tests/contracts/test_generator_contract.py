"""The contract every generator must keep: llama-cpp in process, and openai against a real
llama-cpp-python server on 127.0.0.1 (fixture `llamacpp_server` in tests/conftest.py), both on
SmolLM2-135M-Instruct. Answer quality is irrelevant here: the model is tiny.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from llmpilot.config import GeneratorConfig
from llmpilot.generation.models import smollm2_gguf_path
from llmpilot.protocols import Generator
from llmpilot.registry import generators

pytestmark = pytest.mark.slow

API_KEY_ENV = "LLMPILOT_TEST_LLAMACPP_KEY"
ENGLISH = [{"role": "user", "content": "Write a short story about a cat who learns to swim."}]
KOREAN = [
    {"role": "system", "content": "당신은 친절한 도우미입니다."},
    {"role": "user", "content": "한국의 수도는 어디인가요? 한 문장으로 답하세요."},
]


@pytest.fixture(params=["llama-cpp", "openai"])
def generator(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Generator:
    if request.param == "llama-cpp":
        cfg = GeneratorConfig(name="llama-cpp", seed=7)
    else:
        server = request.getfixturevalue("llamacpp_server")
        monkeypatch.setenv(API_KEY_ENV, server.api_key)
        cfg = GeneratorConfig(
            name="openai", base_url=server.base_url, model="smollm2", api_key_env=API_KEY_ENV, seed=7
        )
    gen: Generator = generators.create(cfg.name, cfg=cfg)
    return gen


@pytest.fixture(scope="module")
def n_tokens() -> Iterator[Callable[[str], int]]:
    """Token counter from the GGUF's own vocabulary (no weights loaded)."""
    from llama_cpp import Llama

    vocab = Llama(model_path=str(smollm2_gguf_path()), vocab_only=True, verbose=False)
    yield lambda text: len(vocab.tokenize(text.encode("utf-8"), add_bos=False))
    vocab.close()


def test_follows_protocol(generator: Generator) -> None:
    assert isinstance(generator, Generator)
    assert isinstance(generator.model_id, str) and generator.model_id


def test_generate_returns_text(generator: Generator) -> None:
    text = generator.generate(ENGLISH, max_tokens=24, temperature=0.0)
    assert isinstance(text, str) and text.strip()


def test_stream_deltas_concatenate_to_the_answer(generator: Generator) -> None:
    deltas = list(generator.stream(ENGLISH, max_tokens=24, temperature=0.0))
    assert len(deltas) > 1, "streaming must yield pieces as they decode, not one final string"
    assert all(isinstance(d, str) and d for d in deltas)
    answer = "".join(deltas)
    assert answer.strip()
    assert answer == generator.generate(ENGLISH, max_tokens=24, temperature=0.0)


@pytest.mark.parametrize("max_tokens", [1, 5])
def test_max_tokens_bounds_the_output(
    generator: Generator, max_tokens: int, n_tokens: Callable[[str], int]
) -> None:
    deltas = list(generator.stream(ENGLISH, max_tokens=max_tokens, temperature=0.0))
    assert 1 <= len(deltas) <= max_tokens  # both backends stream one token per delta
    text = generator.generate(ENGLISH, max_tokens=max_tokens, temperature=0.0)
    assert 1 <= n_tokens(text) <= max_tokens + 1  # +1: re-tokenizing decoded text may split differently
    longer = generator.generate(ENGLISH, max_tokens=40, temperature=0.0)
    assert len(longer) > len(text)


def test_deterministic_at_temperature_zero(generator: Generator) -> None:
    first = generator.generate(ENGLISH, max_tokens=16, temperature=0.0)
    assert generator.generate(ENGLISH, max_tokens=16, temperature=0.0) == first


def test_seeded_sampling_is_reproducible(generator: Generator) -> None:
    first = generator.generate(ENGLISH, max_tokens=8, temperature=0.9)
    assert generator.generate(ENGLISH, max_tokens=8, temperature=0.9) == first


def test_korean_question(generator: Generator) -> None:
    text = generator.generate(KOREAN, max_tokens=12, temperature=0.0)
    assert text.strip()
    streamed = "".join(generator.stream(KOREAN, max_tokens=12, temperature=0.0))
    assert streamed == text


@pytest.mark.slow
def test_llamacpp_reports_its_window_and_counts_tokens() -> None:
    from llmpilot.config import GeneratorConfig
    from llmpilot.generation.llamacpp import LlamaCppGenerator

    gen = LlamaCppGenerator(GeneratorConfig(n_ctx=2048))
    assert gen.context_window == 2048
    short, long = gen.count_tokens("배터리"), gen.count_tokens("배터리 보증 기간은 10년입니다. " * 20)
    assert 0 < short < long
