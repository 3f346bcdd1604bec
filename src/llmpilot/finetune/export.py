"""Merge a fine-tuned adapter into its base: a standalone Hugging Face model folder.

Only adapters that change weights can be merged (LoRA, IA3); prefix and prompt tuning add virtual
tokens at run time and stay adapters (serve them with `generator.adapter`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from llmpilot.errors import ConfigError
from llmpilot.extras import requires_extra
from llmpilot.finetune.base import load_model, resolve_base
from llmpilot.finetune.train import read_adapter_meta

MERGEABLE = ("lora", "qlora", "ia3")


def merge_and_export(adapter: Path, out: Path) -> Path:
    meta = read_adapter_meta(adapter)
    method = str(meta.get("method"))
    if method not in MERGEABLE:
        raise ConfigError(
            f"{adapter}: a {method} adapter adds virtual tokens at run time and cannot be merged into the "
            f"weights; serve it with generator: {{name: transformers, adapter: {adapter}}}"
        )
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"--out {out}: the folder exists and is not empty; choose a new folder")
    with requires_extra("finetune", "adapters export"):
        from peft import PeftModel
        from transformers import AutoTokenizer
    base = resolve_base(str(meta.get("base_folder") or meta["base"]))
    model = PeftModel.from_pretrained(load_model(base), str(adapter)).merge_and_unload()
    tokenizer = AutoTokenizer.from_pretrained(str(adapter))
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(str(partial))
    tokenizer.save_pretrained(str(partial))
    (partial / "llmpilot-merged.json").write_text(
        json.dumps(
            {
                "base": meta["base"],
                "method": method,
                "data_hash": meta.get("data_hash"),
                "adapter": str(adapter.resolve()),
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    if out.exists():
        out.rmdir()
    partial.rename(out)
    return out
