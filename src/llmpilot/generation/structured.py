"""Structured output: JSON that a JSON schema admits, from generators that can constrain their decoding.

`llama-cpp` decodes under a grammar built from the schema (the output always matches it, unless cut at
max_tokens); `openai` asks the server for structured outputs. Other generators (the extractive answerer,
plugins without `generate_json`) cannot, and `generate_json` here says so instead of guessing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from llmpilot.errors import LlmpilotError


class StructuredOutputError(LlmpilotError):
    """The configured generator cannot produce schema-constrained JSON."""


@runtime_checkable
class JsonGenerator(Protocol):
    model_id: str

    def generate_json(
        self,
        messages: Sequence[dict[str, str]],
        *,
        schema: dict[str, Any],
        max_tokens: int,
        temperature: float = 0.0,
    ) -> str: ...


def supports_json(generator: object) -> bool:
    """Whether `generator` can decode JSON constrained to a schema."""
    return isinstance(generator, JsonGenerator)


def generate_json(
    generator: object,
    messages: Sequence[dict[str, str]],
    schema: dict[str, Any],
    max_tokens: int,
) -> str:
    """The generator's JSON text for `messages` at temperature 0 (the same request gives the same plan)."""
    if not isinstance(generator, JsonGenerator):
        name = getattr(generator, "model_id", type(generator).__name__)
        raise StructuredOutputError(
            f"generator {name} cannot produce schema-constrained JSON; set generator.name to llama-cpp "
            "or openai (a server with structured outputs), or use the rule-based suggestions"
        )
    return generator.generate_json(messages, schema=schema, max_tokens=max_tokens, temperature=0.0)
