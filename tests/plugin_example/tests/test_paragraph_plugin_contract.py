"""The plugin's own tests: llmpilot's chunker contract suite, plus what makes it a paragraph chunker."""

from __future__ import annotations

import pytest

from llmpilot import factory, registry
from llmpilot.config import ChunkingConfig
from llmpilot.testing import ChunkerContract
from llmpilot.types import Document


class TestParagraphChunker(ChunkerContract):
    @pytest.fixture
    def chunker_name(self) -> str:
        return "paragraph"


def test_registered_through_the_entry_point_not_as_a_builtin() -> None:
    assert "paragraph" in registry.chunkers.names()
    assert "paragraph" not in registry.chunkers.builtin_names()


def test_one_chunk_per_paragraph_even_when_they_would_fit_together() -> None:
    text = "First paragraph.\n\n  Second one,\nstill second.\n \nThird."
    chunks = factory.chunker(ChunkingConfig(method="paragraph", size=800, overlap=0)).split(
        Document(id="d", text=text)
    )
    assert [c.text for c in chunks] == ["First paragraph.", "Second one,\nstill second.", "Third."]
