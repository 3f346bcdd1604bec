"""Log-likelihood backends for the multiple-choice benchmarks (the `LoglikModel` protocol).

* `LlamaCppLoglik` — a GGUF through llama-cpp-python. The context is evaluated once per item and its KV
  cache is kept; each continuation is decoded on top of it and the cache is cut back to the context's
  length before the next one. On MMLU-style items the continuations are single tokens (" A"), whose
  probability is read from the context's last position, so an item costs one forward pass instead of four.
  Only the positions that are scored ask llama.cpp for logits (`logits_all=True` would allocate
  n_ctx × vocabulary floats: 0.8 GB for SmolLM2 at n_ctx 4096).
* `TransformersLoglik` — a Hugging Face folder with transformers on CPU in float32, the same model class
  and dtype as the harness's `hf` backend, so the two agree to float rounding (the parity test).

Both tokenize as lm-evaluation-harness does (`TemplateLM._encode_pair`): trailing whitespace of the
context moves to the continuation, the pair is encoded together and the continuation's tokens are those past
the context's own encoding. Log-softmax is taken in float64.

Contexts longer than the window are cut from the left (the harness keeps the last max_length + 1 tokens of
context + continuation): the context keeps its end, so the question and "Answer:" survive and only the
oldest few-shot text is lost. A continuation that alone does not fit is an error.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from llmpilot.errors import ConfigError, LlmpilotError, ModelNotAvailableError
from llmpilot.models.types import LoglikModel


class OpenedLoglikModel(LoglikModel, Protocol):
    """What `open_loglik_model` returns: a LoglikModel that also states its size and can be closed."""

    #: The model file's size, or its folder's total size (for the efficiency column).
    model_bytes: int | None

    def close(self) -> None: ...


def split_trailing_space(context: str, continuation: str) -> tuple[str, str]:
    """The harness's rule: "Answer: " + "A" is scored as "Answer:" + " A" (tokenizers attach the space
    to the following word)."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        return context[:-n_spaces], context[-n_spaces:] + continuation
    return context, continuation


def encode_pair(
    encode: Callable[[str], list[int]], context: str, continuations: Sequence[str], empty_context: int
) -> tuple[list[int], list[list[int]]]:
    """(context tokens, each continuation's tokens) as the harness builds them. An empty context is the
    single `empty_context` token (the harness's `prefix_token_id`: BOS, or EOS where there is none)."""
    if context == "":
        # The harness encodes the continuation without special tokens; a tokenizer that adds BOS by
        # itself (Gemma) would otherwise score the prefix token as part of the continuation.
        encoded = [encode(continuation) for continuation in continuations]
        return [empty_context], [t[1:] if t[:1] == [empty_context] else t for t in encoded]
    moved = [split_trailing_space(context, continuation) for continuation in continuations]
    context_tokens = encode(moved[0][0])
    return context_tokens, [encode(ctx + cont)[len(context_tokens) :] for ctx, cont in moved]


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float64 (float32 loses the small differences between choices)."""
    values = logits.astype(np.float64)
    top = values.max(axis=-1, keepdims=True)
    return values - top - np.log(np.exp(values - top).sum(axis=-1, keepdims=True))


def fit_window(context: list[int], continuations: Sequence[list[int]], window: int, name: str) -> list[int]:
    """The context, cut from the left so that context + the longest continuation (minus its last token,
    which is never fed) fits `window` positions."""
    longest = max((len(tokens) for tokens in continuations), default=0)
    room = window - max(longest - 1, 0)
    if room < 1:
        raise LlmpilotError(
            f"model {name}: a choice of {longest} tokens does not fit the context window of {window} tokens; "
            "raise n_ctx or shorten the benchmark's choices"
        )
    return context[-room:]


def path_bytes(path: Path) -> int:
    """A model file's size, or the total size of a model folder's files."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


class LlamaCppLoglik:
    """A GGUF model scored with llama.cpp, reusing the context's KV cache across an item's choices."""

    def __init__(
        self,
        path: Path,
        name: str,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        reuse_context: bool = True,
    ) -> None:
        try:
            from llama_cpp import Llama
        except ImportError:  # pragma: no cover - llama-cpp-python is a core dependency
            raise ModelNotAvailableError(
                "llama-cpp-python is not installed: pip install llama-cpp-python"
            ) from None
        if not path.is_file():
            raise ModelNotAvailableError(f"{path}: no such GGUF file")
        self.name = name
        self.path = path
        #: False scores every (context + continuation) from an empty cache: the slow reference that the
        #: KV-reuse path is checked against.
        self.reuse_context = reuse_context
        self.model_bytes: int | None = path_bytes(path)
        # llama.cpp prints its load log on stderr from C; verbose=False silences it.
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                self._llm = Llama(
                    model_path=str(path),
                    n_ctx=n_ctx,
                    n_batch=min(512, n_ctx),
                    n_threads=n_threads or os.cpu_count() or 1,
                    logits_all=False,
                    verbose=False,
                )
        except ValueError as exc:  # llama-cpp-python's "Failed to load model from file"
            raise ModelNotAvailableError(
                f"model {name}: llama.cpp could not load {path} ({exc}); is it a complete GGUF file?"
            ) from None
        self.n_ctx = self._llm.n_ctx()
        self._n_vocab = self._llm.n_vocab()
        # Private members of llama-cpp-python 0.3.x: the public API evaluates either all positions'
        # logits (huge) or only the last one, and cannot cut the cache back to a given length.
        self._ctx: Any = self._llm._ctx
        self._batch: Any = self._llm._batch
        self._n_batch = self._llm.n_batch
        bos = self._llm.token_bos()
        self._empty_context = bos if bos >= 0 else self._llm.token_eos()

    def _encode(self, text: str) -> list[int]:
        # add_bos=True asks for BOS only where the GGUF's tokenizer wants one (Gemma yes, SmolLM2 no),
        # matching the Hugging Face tokenizer's default that the harness uses.
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=True, special=False))

    def count_tokens(self, text: str) -> int:
        return len(self._encode(text))

    def _decode(self, tokens: Sequence[int], start: int, logits_from: int) -> np.ndarray:
        """Feed `tokens` at positions start, start+1, … into the cache; the log-softmax rows of the tokens
        at index >= logits_from (one row per such token, predicting the token after it)."""
        rows: list[np.ndarray] = []
        batch = self._batch.batch
        for offset in range(0, len(tokens), self._n_batch):
            chunk = tokens[offset : offset + self._n_batch]
            batch.n_tokens = len(chunk)
            for j, token in enumerate(chunk):
                batch.token[j] = token
                batch.pos[j] = start + offset + j
                batch.seq_id[j][0] = 0
                batch.n_seq_id[j] = 1
                batch.logits[j] = offset + j >= logits_from
            self._ctx.decode(self._batch)
            for j in range(len(chunk)):
                if offset + j >= logits_from:
                    pointer = self._ctx.get_logits_ith(j)
                    rows.append(np.ctypeslib.as_array(pointer, shape=(self._n_vocab,)).copy())
        if not rows:
            return np.empty((0, self._n_vocab))
        return log_softmax(np.stack(rows))

    def _clear(self, start: int) -> None:
        self._ctx.kv_cache_seq_rm(0, start, -1)

    def loglikelihood(self, context: str, continuations: Sequence[str]) -> list[tuple[float, int]]:
        context_tokens, continuation_tokens = encode_pair(
            self._encode, context, continuations, self._empty_context
        )
        context_tokens = fit_window(context_tokens, continuation_tokens, self.n_ctx, self.name)
        n = len(context_tokens)
        results: list[tuple[float, int]] = []
        last: np.ndarray | None = None
        if self.reuse_context:
            self._clear(0)
            last = self._decode(context_tokens, 0, n - 1)[0]
        for tokens in continuation_tokens:
            if not tokens:
                results.append((0.0, 0))
                continue
            if self.reuse_context and last is not None:
                self._clear(n)
                rows = np.vstack([last[None, :], self._decode(tokens[:-1], n, 0)])
            else:
                self._clear(0)
                rows = self._decode(context_tokens + tokens[:-1], 0, n - 1)
            loglik = float(rows[np.arange(len(tokens)), tokens].sum())
            results.append((loglik, len(tokens)))
        return results

    def close(self) -> None:
        self._llm.close()


class TransformersLoglik:
    """A Hugging Face causal LM folder on CPU in float32: the harness's `hf` backend, reimplemented."""

    #: The harness's default when neither the config nor the tokenizer states a maximum length.
    DEFAULT_MAX_LENGTH = 2048

    def __init__(self, folder: Path, name: str) -> None:
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError:
            raise ModelNotAvailableError(
                f"model {name}: transformers and torch are needed for a Hugging Face folder: "
                "pip install 'llmpilot[finetune]'"
            ) from None
        if not (folder / "config.json").is_file():
            raise ModelNotAvailableError(f"{folder}: not a Hugging Face model folder (no config.json)")
        self.name = name
        self.folder = folder
        self.model_bytes: int | None = path_bytes(folder)
        self._torch = torch
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(str(folder))
            self._model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
        except (OSError, ValueError) as exc:
            raise ModelNotAvailableError(
                f"model {name}: transformers could not load {folder} as a causal language model ({exc})"
            ) from None
        self._model.eval()
        self.max_length = self._max_length()
        prefix = self._tokenizer.bos_token_id
        self._empty_context = int(prefix if prefix is not None else self._tokenizer.eos_token_id)

    def _max_length(self) -> int:
        # The harness's `resolve_max_length`: the config's position limit, else the tokenizer's.
        for attribute in ("n_positions", "max_position_embeddings", "n_ctx"):
            value = getattr(self._model.config, attribute, None)
            if isinstance(value, int):
                return value
        model_max = getattr(self._tokenizer, "model_max_length", None)
        if isinstance(model_max, int) and model_max < 1_000_000_000:
            return model_max
        return self.DEFAULT_MAX_LENGTH

    def _encode(self, text: str) -> list[int]:
        return list(self._tokenizer.encode(text))

    def count_tokens(self, text: str) -> int:
        return len(self._encode(text))

    def loglikelihood(self, context: str, continuations: Sequence[str]) -> list[tuple[float, int]]:
        context_tokens, continuation_tokens = encode_pair(
            self._encode, context, continuations, self._empty_context
        )
        results: list[tuple[float, int]] = []
        cached: tuple[tuple[int, ...], np.ndarray] | None = None
        for tokens in continuation_tokens:
            if not tokens:
                results.append((0.0, 0))
                continue
            # The harness's input: the last max_length + 1 tokens of context + continuation, minus the last.
            inputs = tuple((context_tokens + tokens)[-(self.max_length + 1) :][:-1])
            # Single-token choices (" A", " B", …) all feed the same input: one forward pass per item.
            if cached is None or cached[0] != inputs:
                with self._torch.inference_mode():
                    logits = self._model(self._torch.tensor([inputs])).logits[0]
                cached = (inputs, log_softmax(logits.numpy()))
            rows = cached[1][-len(tokens) :]
            results.append((float(rows[np.arange(len(tokens)), tokens].sum()), len(tokens)))
        return results

    def close(self) -> None:
        del self._model


ACCEPTED_FORMS = (
    "a catalog name ({names}), a .gguf file, hf:FOLDER or a Hugging Face folder with config.json, "
    "or openai:MODEL@BASE_URL"
)


def open_loglik_model(spec: str, *, n_ctx: int = 4096, n_threads: int | None = None) -> OpenedLoglikModel:
    """The backend for `--models` entry `spec`."""
    from llmpilot.generation.models import LOCAL_MODELS, local_model_path

    forms = ACCEPTED_FORMS.format(names=", ".join(sorted(LOCAL_MODELS)))
    if spec.startswith("openai:"):
        raise ConfigError(
            f"model {spec!r}: OpenAI-compatible endpoints are not supported for log-likelihood scoring yet; "
            "benchmark a local model instead: " + forms
        )
    if spec in LOCAL_MODELS:
        return LlamaCppLoglik(local_model_path(spec), spec, n_ctx=n_ctx, n_threads=n_threads)
    folder_spec = spec.removeprefix("hf:")
    path = Path(folder_spec).expanduser()
    if spec.startswith("hf:") or (path.is_dir() and (path / "config.json").is_file()):
        if not (path / "config.json").is_file():
            raise ModelNotAvailableError(
                f"model {spec!r}: {path} is not a Hugging Face model folder (no config.json)"
            )
        return TransformersLoglik(path, spec)
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise ModelNotAvailableError(f"model {spec!r}: no such file {path}")
        return LlamaCppLoglik(path, spec, n_ctx=n_ctx, n_threads=n_threads)
    raise ConfigError(f"model {spec!r}: unknown; give {forms}")
