"""Contract suites for llmpilot components, for plugin authors and for the built-ins alike.

Each suite is a class of pytest tests. Subclass it in a test module and override the one fixture
that names (or builds) your component; every test then runs against it, through the registry and
`llmpilot.factory` exactly as a pipeline would build it:

    from llmpilot.testing import ChunkerContract

    class TestParagraphChunker(ChunkerContract):
        @pytest.fixture
        def chunker_name(self) -> str:
            return "paragraph"

Suites: `ChunkerContract`, `EmbedderContract` (+ `SemanticEmbedderContract`), `TokenizerContract`
(BM25 keyword search with the tokenizer), `VectorIndexContract`, `GeneratorContract`, and `StoreContract`
(the store of record on a database backend: override `store_url`).
`CONTRACT_SUITES` maps each registry to its suite. They need pytest and hypothesis (docs/PLUGINS.md).
"""

from __future__ import annotations

from llmpilot.testing.chunker import ChunkerContract
from llmpilot.testing.embedder import EmbedderContract, SemanticEmbedderContract
from llmpilot.testing.generator import GeneratorContract
from llmpilot.testing.keyword_index import TokenizerContract
from llmpilot.testing.store import StoreContract
from llmpilot.testing.vector_index import VectorIndexContract

#: The contract suite of each component kind, by registry attribute name (`llmpilot.registry.<kind>`).
CONTRACT_SUITES: dict[str, type] = {
    "chunkers": ChunkerContract,
    "embedders": EmbedderContract,
    "tokenizers": TokenizerContract,
    "vector_indexes": VectorIndexContract,
    "generators": GeneratorContract,
}

__all__ = [
    "CONTRACT_SUITES",
    "ChunkerContract",
    "EmbedderContract",
    "GeneratorContract",
    "SemanticEmbedderContract",
    "StoreContract",
    "TokenizerContract",
    "VectorIndexContract",
]
