"""The generator contract: text from `generate`, streamed deltas that add up to the same text,
`max_tokens` honoured, determinism at temperature 0 and with a seed, Korean prompts."""

from __future__ import annotations

import pytest

from llmpilot import factory
from llmpilot.config import GeneratorConfig
from llmpilot.protocols import Generator

ENGLISH = [{"role": "user", "content": "Write a short story about a cat who learns to swim."}]
KOREAN = [
    {"role": "system", "content": "당신은 친절한 도우미입니다."},
    {"role": "user", "content": "한국의 수도는 어디인가요? 한 문장으로 답하세요."},
]


class GeneratorContract:
    """Override `generator_config` with a `GeneratorConfig` naming your generator (with a seed)."""

    @pytest.fixture
    def generator_config(self) -> GeneratorConfig:
        raise NotImplementedError("override the generator_config fixture: return a GeneratorConfig")

    @pytest.fixture
    def generator(self, generator_config: GeneratorConfig) -> Generator:
        return factory.generator(generator_config)

    def test_follows_protocol(self, generator: Generator) -> None:
        assert isinstance(generator, Generator)
        assert isinstance(generator.model_id, str) and generator.model_id

    def test_generate_returns_text(self, generator: Generator) -> None:
        text = generator.generate(ENGLISH, max_tokens=24, temperature=0.0)
        assert isinstance(text, str) and text.strip()

    def test_stream_deltas_concatenate_to_the_answer(self, generator: Generator) -> None:
        deltas = list(generator.stream(ENGLISH, max_tokens=24, temperature=0.0))
        assert len(deltas) > 1, "streaming must yield pieces as they decode, not one final string"
        assert all(isinstance(d, str) and d for d in deltas)
        answer = "".join(deltas)
        assert answer.strip()
        assert answer == generator.generate(ENGLISH, max_tokens=24, temperature=0.0)

    @pytest.mark.parametrize("max_tokens", [1, 5])
    def test_max_tokens_bounds_the_output(self, generator: Generator, max_tokens: int) -> None:
        deltas = list(generator.stream(ENGLISH, max_tokens=max_tokens, temperature=0.0))
        assert 1 <= len(deltas) <= max_tokens  # a delta holds at least one token
        text = generator.generate(ENGLISH, max_tokens=max_tokens, temperature=0.0)
        longer = generator.generate(ENGLISH, max_tokens=40, temperature=0.0)
        assert len(longer) > len(text)

    def test_deterministic_at_temperature_zero(self, generator: Generator) -> None:
        first = generator.generate(ENGLISH, max_tokens=16, temperature=0.0)
        assert generator.generate(ENGLISH, max_tokens=16, temperature=0.0) == first

    def test_seeded_sampling_is_reproducible(self, generator: Generator) -> None:
        first = generator.generate(ENGLISH, max_tokens=8, temperature=0.9)
        assert generator.generate(ENGLISH, max_tokens=8, temperature=0.9) == first

    def test_korean_question(self, generator: Generator) -> None:
        text = generator.generate(KOREAN, max_tokens=12, temperature=0.0)
        assert text.strip()
        streamed = "".join(generator.stream(KOREAN, max_tokens=12, temperature=0.0))
        assert streamed == text
