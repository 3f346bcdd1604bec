"""A LoRA adapter as a GGUF LoRA file, so llama.cpp serves it on the catalog's quantized base
(`generator: {name: llama-cpp, adapter: FILE.gguf}`): the default generator's speed with the
fine-tune's behaviour.

What llama.cpp's `convert_lora_to_gguf.py` does, for the Llama architecture (SmolLM2): tensors renamed
to llama.cpp's (`blk.N.attn_q.weight.lora_a` / `.lora_b`), A as (r, in) and B as (out, r) in PyTorch
order (GGUF stores dimensions reversed, which is what llama.cpp checks), and the rows of the query and
key projections' B permuted the way the HF -> GGUF conversion permuted those weights for its rotary
layout. Scaling is `adapter.lora.alpha` / r, as PEFT's.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from llmpilot.errors import ConfigError
from llmpilot.extras import requires_extra
from llmpilot.finetune.base import materialize, resolve_base
from llmpilot.finetune.train import read_adapter_meta

#: Hugging Face Llama module -> llama.cpp tensor name (gguf-py's tensor map for LLAMA).
_LLAMA_NAMES = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
_KEY = re.compile(r"^base_model\.model\.model\.layers\.(\d+)\.(.+)\.lora_([AB])\.weight$")


def _permute(rows: np.ndarray, n_head: int) -> np.ndarray:
    """convert_hf_to_gguf's LlamaModel.permute on the output dimension (rotary halves interleaved)."""
    return (
        rows.reshape(n_head, 2, rows.shape[0] // n_head // 2, *rows.shape[1:])
        .swapaxes(1, 2)
        .reshape(rows.shape)
    )


def lora_to_gguf(adapter: Path, out: Path) -> Path:
    meta = read_adapter_meta(adapter)
    if meta.get("method") not in ("lora", "qlora"):
        raise ConfigError(f"{adapter}: only LoRA adapters convert to GGUF (this one is {meta.get('method')})")
    folder = materialize(resolve_base(str(meta.get("base_folder") or meta["base"])))
    config: dict[str, Any] = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if config.get("model_type") != "llama":
        raise ConfigError(
            f"{adapter}: GGUF export supports Llama-architecture bases (SmolLM2); this base is "
            f"{config.get('model_type')!r}: serve it with generator.name transformers"
        )
    settings = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    with requires_extra("finetune", "adapters export --gguf"):
        import gguf
        from safetensors.numpy import load_file
    weights = load_file(str(adapter / "adapter_model.safetensors"))
    n_head, n_kv = int(config["num_attention_heads"]), int(config["num_key_value_heads"])
    writer = gguf.GGUFWriter(str(out), arch="llama")
    writer.add_string(gguf.Keys.General.TYPE, gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(settings["lora_alpha"]))
    for key in sorted(weights):
        match = _KEY.match(key)
        if match is None or match.group(2) not in _LLAMA_NAMES:
            raise ConfigError(
                f"{adapter}: tensor {key} has no llama.cpp counterpart; serve with transformers"
            )
        layer, module, part = match.groups()
        tensor = weights[key].astype(np.float32)
        if part == "B" and module == "self_attn.q_proj":
            tensor = _permute(tensor, n_head)
        elif part == "B" and module == "self_attn.k_proj":
            tensor = _permute(tensor, n_kv)
        writer.add_tensor(f"blk.{layer}.{_LLAMA_NAMES[module]}.weight.lora_{part.lower()}", tensor)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out
