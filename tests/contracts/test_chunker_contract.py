"""The chunker contract (llmpilot.testing.ChunkerContract) on every built-in chunker."""

from __future__ import annotations

import itertools

import pytest

from llmpilot.testing import ChunkerContract
from llmpilot.testing.chunker import DOCS, UNITS
from llmpilot.types import Document

#: The built-in chunkers this module runs the contract on (tests/contracts/test_coverage.py checks it).
COVERED = ["fixed", "recursive", "sentence"]


class TestBuiltinChunkers(ChunkerContract):
    @pytest.fixture(params=COVERED)
    def chunker_name(self, request: pytest.FixtureRequest) -> str:
        return str(request.param)


@pytest.mark.parametrize(("unit", "tokenizer", "size", "overlap"), UNITS)
@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.id)
def test_fixed_windows_overlap(unit: str, tokenizer: str, size: int, overlap: int, doc: Document) -> None:
    # The others overlap by whole sentences/pieces, which may not fit the overlap; fixed always does.
    chunker, _ = ChunkerContract().make("fixed", unit, tokenizer, size, overlap)
    chunks = chunker.split(doc)
    assert any(b.start < a.end for a, b in itertools.pairwise(chunks)), "overlap never happened"
