"""The tokenizer contract (llmpilot.testing.TokenizerContract), behind BM25, on every built-in tokenizer."""

from __future__ import annotations

import pytest

from llmpilot.testing import TokenizerContract

#: The built-in tokenizers this module runs the contract on (tests/contracts/test_coverage.py checks it).
COVERED = ["auto", "en", "ko", "ko-bigram", "ko-morph", "whitespace"]


class TestBuiltinTokenizers(TokenizerContract):
    @pytest.fixture(params=COVERED)
    def tokenizer_name(self, request: pytest.FixtureRequest) -> str:
        return str(request.param)
