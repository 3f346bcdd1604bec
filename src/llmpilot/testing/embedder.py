"""The embedder contract: shapes, unit norms, order, batching, determinism, query/passage handling
(`EmbedderContract`), and for models that claim meaning, relevance (`SemanticEmbedderContract`)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest

from llmpilot import factory
from llmpilot.config import EmbedderConfig
from llmpilot.protocols import Embedder

ENGLISH = [
    "The cat is sleeping on the sofa.",
    "Aspirin reduces the risk of heart attacks in some patients.",
    "Seoul is the capital of South Korea.",
]
KOREAN = [
    "고양이가 소파 위에서 자고 있다.",
    "아스피린은 일부 환자에게서 심장마비 위험을 줄인다.",
    "서울은 대한민국의 수도이다.",
]
# (anchor, paraphrase, unrelated)
PARAPHRASE_EN = (
    "The cat is sleeping on the sofa.",
    "A cat naps on the couch.",
    "Stock markets fell sharply on Tuesday.",
)
PARAPHRASE_KO = (
    "고양이가 소파 위에서 자고 있다.",
    "고양이 한 마리가 소파에서 낮잠을 잔다.",
    "화요일에 주식 시장이 급락했다.",
)
#: Small on purpose: 6 texts span two batches, so batch boundaries are exercised.
BATCH_SIZE = 4


def cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=-1)


class EmbedderContract:
    """Override `embedder_config` with an `EmbedderConfig` naming your embedder (and its settings).

    Class attributes describe what the embedder promises: `symmetric` (no prefixes by default, so
    query and passage vectors are equal) and `custom_query_prefix` (a `query_prefix` it accepts as
    an override, or None if it takes no prefixes).
    """

    symmetric: ClassVar[bool] = False
    custom_query_prefix: ClassVar[str | None] = "search: "

    @pytest.fixture
    def embedder_config(self) -> EmbedderConfig:
        raise NotImplementedError("override the embedder_config fixture: return an EmbedderConfig")

    def build(self, cfg: EmbedderConfig, **overrides: object) -> Embedder:
        return factory.embedder(cfg.model_copy(update={"batch_size": BATCH_SIZE, **overrides}))

    def test_follows_protocol(self, embedder_config: EmbedderConfig) -> None:
        emb = self.build(embedder_config)
        assert isinstance(emb, Embedder)
        assert isinstance(emb.model_id, str) and emb.model_id
        assert isinstance(emb.dim, int) and emb.dim > 0
        # Same config, same identity: model_id is an embedding-cache key.
        assert self.build(embedder_config).model_id == emb.model_id

    @pytest.mark.parametrize("kind", ["query", "passage"])
    def test_shape_dtype_and_unit_norm(self, embedder_config: EmbedderConfig, kind: str) -> None:
        emb = self.build(embedder_config)
        out = emb.embed(ENGLISH + KOREAN, kind)  # type: ignore[arg-type]
        assert out.shape == (6, emb.dim)
        assert out.dtype == np.float32
        assert np.all(np.isfinite(out))
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-4)

    @pytest.mark.parametrize("kind", ["query", "passage"])
    def test_empty_input_gives_zero_rows(self, embedder_config: EmbedderConfig, kind: str) -> None:
        emb = self.build(embedder_config)
        out = emb.embed([], kind)  # type: ignore[arg-type]
        assert out.shape == (0, emb.dim)
        assert out.dtype == np.float32

    def test_order_is_preserved(self, embedder_config: EmbedderConfig) -> None:
        emb = self.build(embedder_config)
        texts = ENGLISH + KOREAN
        forward = emb.embed(texts, "passage")
        backward = emb.embed(texts[::-1], "passage")
        assert np.all(cos(forward, backward[::-1]) > 0.999)
        # And the rows really are different texts, so a swap would have been caught.
        assert cos(forward[0], forward[1]) < 0.99

    def test_batch_invariance(self, embedder_config: EmbedderConfig) -> None:
        emb = self.build(embedder_config)
        texts = ENGLISH + KOREAN
        together = emb.embed(texts, "passage")
        alone = np.concatenate([emb.embed([t], "passage") for t in texts])
        assert np.all(cos(together, alone) > 0.999)

    def test_deterministic(self, embedder_config: EmbedderConfig) -> None:
        first = self.build(embedder_config).embed(ENGLISH + KOREAN, "query")
        second = self.build(embedder_config).embed(ENGLISH + KOREAN, "query")
        np.testing.assert_allclose(first, second, atol=1e-5)

    def test_korean_and_english_in_one_call(self, embedder_config: EmbedderConfig) -> None:
        out = self.build(embedder_config).embed(
            [ENGLISH[0], KOREAN[0], "Samsung 갤럭시 phones use Android."], "passage"
        )
        assert out.shape[0] == 3
        assert np.all(np.isfinite(out))
        assert cos(out[0], out[1]) < 0.999  # Korean is not collapsed onto the English vector

    def test_query_and_passage_sides(self, embedder_config: EmbedderConfig) -> None:
        emb = self.build(embedder_config)
        text = ["How much protein should an adult eat per day?", "성인은 하루에 단백질을 얼마나 먹어야 하나?"]
        q, p = emb.embed(text, "query"), emb.embed(text, "passage")
        if self.symmetric:
            np.testing.assert_allclose(q, p, atol=1e-5)
        else:
            assert np.all(cos(q, p) < 0.999), "query and passage must get different prefixes"

    def test_prefix_override_changes_vectors_and_identity(self, embedder_config: EmbedderConfig) -> None:
        if self.custom_query_prefix is None:
            pytest.skip("this embedder declares that it takes no prefixes (custom_query_prefix = None)")
        default = self.build(embedder_config)
        custom = self.build(embedder_config, query_prefix=self.custom_query_prefix)
        assert custom.model_id != default.model_id
        a = default.embed([ENGLISH[1]], "query")
        b = custom.embed([ENGLISH[1]], "query")
        assert cos(a, b)[0] < 0.9999
        # Passages are untouched by a query-prefix override.
        np.testing.assert_allclose(
            default.embed([ENGLISH[1]], "passage"), custom.embed([ENGLISH[1]], "passage"), atol=1e-5
        )

    def test_rejects_unknown_kind(self, embedder_config: EmbedderConfig) -> None:
        with pytest.raises(ValueError, match="query' or 'passage"):
            self.build(embedder_config).embed(["x"], "document")  # type: ignore[arg-type]


class SemanticEmbedderContract(EmbedderContract):
    """For embedders that model meaning: paraphrases beat unrelated text, relevant passages rank
    first; with `multilingual = True` also in Korean and across languages."""

    multilingual: ClassVar[bool] = False

    def test_english_paraphrase_is_closer_than_unrelated(self, embedder_config: EmbedderConfig) -> None:
        anchor, paraphrase, unrelated = self.build(embedder_config).embed(list(PARAPHRASE_EN), "passage")
        assert cos(anchor, paraphrase) > cos(anchor, unrelated) + 0.05

    def test_relevant_passage_ranks_first(self, embedder_config: EmbedderConfig) -> None:
        emb = self.build(embedder_config)
        q = emb.embed(["How much protein should an adult eat per day?"], "query")[0]
        passages = emb.embed(
            [
                "Adults need about 0.8 grams of protein per kilogram of body weight each day.",
                PARAPHRASE_EN[2],
            ],
            "passage",
        )
        assert int(np.argmax(passages @ q)) == 0

    def test_korean_paraphrase_is_closer_than_unrelated(self, embedder_config: EmbedderConfig) -> None:
        if not self.multilingual:
            pytest.skip("English-only embedder (multilingual = False)")
        anchor, paraphrase, unrelated = self.build(embedder_config).embed(list(PARAPHRASE_KO), "passage")
        assert cos(anchor, paraphrase) > cos(anchor, unrelated) + 0.05

    def test_cross_lingual_retrieval(self, embedder_config: EmbedderConfig) -> None:
        if not self.multilingual:
            pytest.skip("English-only embedder (multilingual = False)")
        emb = self.build(embedder_config)
        query = emb.embed(["대한민국의 수도는 어디인가?"], "query")[0]
        passages = emb.embed(ENGLISH, "passage")
        assert int(np.argmax(passages @ query)) == 2  # "Seoul is the capital of South Korea."
