"""A local causal LM through transformers, optionally with a fine-tuned PEFT adapter
(registered as ``transformers``; the `finetune` extra).

`generator.model` is the base (a catalog name such as `smollm2-135m`, a Hugging Face folder or a
GGUF file: llmpilot.finetune.base); `generator.adapter` an adapter folder from `llmpilot finetune`,
whose own record names its base, so `{name: transformers, adapter: DIR}` alone is enough. A LoRA or
IA3 adapter is merged into the weights at load (same outputs, no adapter overhead per token); prefix
and prompt tuning stay as PEFT wrappers and decode through their training forward (see
`_Loaded.use_cache`). One loaded model per (base, adapter), used by one call at a
time, like the llama.cpp generator.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmpilot.config import GeneratorConfig
from llmpilot.errors import ConfigError, ModelNotAvailableError
from llmpilot.extras import requires_extra
from llmpilot.registry import generators


@dataclass
class _Loaded:
    model: Any
    tokenizer: Any
    lock: threading.Lock
    #: False for prefix and prompt tuning: decode through the training forward on the whole sequence,
    #: not `generate`. With transformers 5.25 + peft 0.21, `generate` builds its own cache and drops
    #: the prefix's key/values PEFT passes (prefix: the base model's output, and another output again
    #: with use_cache=False) or misplaces the virtual tokens after the first step (prompt tuning:
    #: garbled text, while greedy decoding through the training forward gave a fluent summary). So
    #: what is served is what was trained, at a cost per token (recomputing the sequence);
    #: tests/integration/test_finetune.py checks it against a greedy loop over that forward.
    use_cache: bool = True


_loaded: dict[tuple[str, str], _Loaded] = {}
_load_lock = threading.Lock()


def unload() -> None:
    """Free every loaded model (each holds a float32 copy of its weights)."""
    import gc

    with _load_lock:
        if not _loaded:
            return
        _loaded.clear()
    gc.collect()


def warm_up_torch() -> None:
    """One small torch op on the calling thread.

    Measured on 2 shared cores: generation runs in a worker thread, and while the process's main
    thread had never run a torch op, SmolLM2 decoded 12 tokens in ~34 s; after one matmul on the main
    thread, ~1.5 s (same prompt). The generator is built on the thread that serves or scores (the main
    one), so it runs this there."""
    import torch

    _ = torch.ones(64, 64) @ torch.ones(64, 64)


def base_and_adapter(cfg: GeneratorConfig) -> tuple[str, Path | None]:
    """The base model name/path and the adapter folder a config asks for."""
    adapter = Path(cfg.adapter).expanduser() if cfg.adapter else None
    base = cfg.model or cfg.model_path
    if adapter is not None:
        from llmpilot.finetune.train import read_adapter_meta

        if not adapter.is_dir():
            raise ModelNotAvailableError(
                f"generator.adapter: {adapter} is not a folder; give the --out folder of `llmpilot finetune`"
            )
        meta = read_adapter_meta(adapter)
        trained_on = str(meta.get("base_folder") or meta.get("base"))
        if base is None:
            base = trained_on
    if base is None:
        base = "smollm2-135m"
    return base, adapter


def _load(base_name: str, adapter: Path | None) -> _Loaded:
    key = (base_name, str(adapter.resolve()) if adapter else "")
    with _load_lock:
        if key in _loaded:
            return _loaded[key]
        from llmpilot.finetune.base import load_model, load_tokenizer, resolve_base

        base = resolve_base(base_name)
        model = load_model(base)
        use_cache = True
        tokenizer = load_tokenizer(base)
        if adapter is not None:
            with requires_extra("finetune", "generator.adapter"):
                from peft import PeftModel
            try:
                model = PeftModel.from_pretrained(model, str(adapter))
            except (ValueError, RuntimeError, KeyError) as exc:
                raise ModelNotAvailableError(
                    f"generator.adapter {adapter}: does not fit base {base_name} ({exc}); "
                    "set generator.model to the base it was trained on"
                ) from None
            peft_type = getattr(model.peft_config["default"].peft_type, "value", None)
            if peft_type in ("LORA", "IA3"):
                model = model.merge_and_unload()
            use_cache = peft_type not in ("PREFIX_TUNING", "PROMPT_TUNING")
            tokenizer = _adapter_tokenizer(adapter, tokenizer)
        model.eval()
        _loaded[key] = _Loaded(model=model, tokenizer=tokenizer, lock=threading.Lock(), use_cache=use_cache)
        return _loaded[key]


def _adapter_tokenizer(adapter: Path, fallback: Any) -> Any:
    """The tokenizer saved with the adapter (it carries the chat template the model was trained with)."""
    if not (adapter / "tokenizer_config.json").is_file():
        return fallback
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(adapter))
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


class TransformersGenerator:
    def __init__(self, cfg: GeneratorConfig) -> None:
        with requires_extra("finetune", "generator transformers"):
            import torch
            import transformers  # noqa: F401
        self.base, self.adapter = base_and_adapter(cfg)
        self.n_ctx = cfg.n_ctx
        self.seed = cfg.seed
        self.repeat_penalty = cfg.repeat_penalty
        threads = cfg.n_threads or os.cpu_count() or 1
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        warm_up_torch()
        base_label = Path(self.base).name if os.sep in self.base else self.base
        self.model_id = f"transformers:{base_label}" + (
            f"+adapter:{self.adapter.name}" if self.adapter else ""
        )

    @property
    def context_window(self) -> int:
        return self.n_ctx

    def _model(self) -> _Loaded:
        return _load(self.base, self.adapter)

    def count_tokens(self, text: str) -> int:
        return len(self._model().tokenizer(text, add_special_tokens=False)["input_ids"])

    def _inputs(self, loaded: _Loaded, messages: Sequence[dict[str, str]], max_tokens: int) -> Any:
        encoded = loaded.tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        prompt_tokens = encoded["input_ids"].shape[1]
        if prompt_tokens + max_tokens > self.n_ctx:
            raise ConfigError(
                f"the prompt ({prompt_tokens} tokens) and the answer ({max_tokens}) do not fit "
                f"the context window of {self.n_ctx}; raise generator.n_ctx or lower prompt.max_context_chars"
            )
        return encoded

    def _settings(self, loaded: _Loaded, max_tokens: int, temperature: float) -> dict[str, Any]:
        import torch

        torch.manual_seed(self.seed)
        sampling: dict[str, Any] = {"do_sample": temperature > 0}
        if temperature > 0:
            sampling["temperature"] = temperature
        return {
            "max_new_tokens": max_tokens,
            "repetition_penalty": self.repeat_penalty,
            "pad_token_id": loaded.tokenizer.pad_token_id,
            **sampling,
        }

    def generate(self, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float) -> str:
        return "".join(self.stream(messages, max_tokens=max_tokens, temperature=temperature))

    def stream(
        self, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float
    ) -> Iterator[str]:
        """Text as it decodes (transformers' streamer, generation in a worker thread). Closing the
        iterator stops the generation at the next token."""
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        loaded = self._model()
        if not loaded.use_cache:
            with loaded.lock:
                yield from self._stream_through_forward(loaded, messages, max_tokens, temperature)
            return
        stop = threading.Event()

        class _Stopped(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
                return stop.is_set()

        with loaded.lock:
            inputs = self._inputs(loaded, messages, max_tokens)
            streamer = TextIteratorStreamer(loaded.tokenizer, skip_prompt=True, skip_special_tokens=True)
            failure: list[BaseException] = []

            def run() -> None:
                try:
                    loaded.model.generate(
                        **inputs,
                        **self._settings(loaded, max_tokens, temperature),
                        streamer=streamer,
                        stopping_criteria=StoppingCriteriaList([_Stopped()]),
                    )
                except BaseException as exc:  # surfaced in the caller's thread below
                    failure.append(exc)
                    streamer.end()

            worker = threading.Thread(target=run, name="llmpilot-transformers-generate", daemon=True)
            worker.start()
            try:
                # One chunk held back: when max_tokens cuts a multi-byte character (Korean) in half,
                # the last chunk ends in U+FFFD, which is dropped rather than shown.
                pending = ""
                for text in streamer:
                    if pending:
                        yield pending
                    pending = text
                pending = pending.rstrip("\ufffd")
                if pending:
                    yield pending
            finally:
                stop.set()
                worker.join()
            if failure:
                raise failure[0]

    def _stream_through_forward(
        self, loaded: _Loaded, messages: Sequence[dict[str, str]], max_tokens: int, temperature: float
    ) -> Iterator[str]:
        """Decode token by token through the model's training forward on the whole sequence (prefix
        and prompt tuning: see `_Loaded.use_cache`), with the same sampling as `generate`: repetition
        penalty, temperature, the seed; stops at the end-of-turn token or `max_tokens`."""
        import torch

        inputs = self._inputs(loaded, messages, max_tokens)
        prompt = inputs["input_ids"]
        sequence = prompt
        stops = _stop_ids(loaded)
        generator = torch.Generator().manual_seed(self.seed)
        shown = ""
        with torch.no_grad():
            for _ in range(max_tokens):
                logits = loaded.model(input_ids=sequence, attention_mask=torch.ones_like(sequence)).logits
                scores = logits[0, -1].float()
                if self.repeat_penalty != 1.0:  # as transformers' RepetitionPenaltyLogitsProcessor
                    seen = torch.unique(sequence[0])
                    picked = scores[seen]
                    scores[seen] = torch.where(
                        picked > 0, picked / self.repeat_penalty, picked * self.repeat_penalty
                    )
                if temperature > 0:
                    probs = torch.softmax(scores / temperature, dim=-1)
                    token = torch.multinomial(probs, 1, generator=generator)
                else:
                    token = scores.argmax().reshape(1)
                if int(token) in stops:
                    break
                sequence = torch.cat([sequence, token.reshape(1, 1)], dim=1)
                text = loaded.tokenizer.decode(sequence[0][prompt.shape[1] :], skip_special_tokens=True)
                if text.endswith("\ufffd"):  # half a multi-byte character: wait for the rest
                    continue
                if len(text) > len(shown) and text.startswith(shown):
                    yield text[len(shown) :]
                    shown = text


def _stop_ids(loaded: _Loaded) -> set[int]:
    """The end-of-turn token ids generate() would stop at (generation config and tokenizer)."""
    ids: set[int] = set()
    config = getattr(loaded.model, "generation_config", None)
    eos = getattr(config, "eos_token_id", None)
    for value in eos if isinstance(eos, list) else [eos]:
        if value is not None:
            ids.add(int(value))
    if loaded.tokenizer.eos_token_id is not None:
        ids.add(int(loaded.tokenizer.eos_token_id))
    return ids


@generators.register("transformers")
def create_transformers(cfg: GeneratorConfig) -> TransformersGenerator:
    return TransformersGenerator(cfg)
