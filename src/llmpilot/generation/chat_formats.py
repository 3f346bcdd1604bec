"""Which chat format a GGUF model is prompted with, and its GGUF header read without loading weights.

llama-cpp-python formats chat messages with the GGUF's own Jinja template when the file has one; a
file without one (Gemma-3-270M's base GGUF) silently gets a Llama-2 `[INST]` prompt, which such a model
answers by echoing "[INST]". So the format is chosen here, in this order:

1. the GGUF's own template (`tokenizer.chat_template`) when it has one: the model was trained on it;
2. else the catalog's `chat_format` for catalog models (generation/models.py);
3. else by `general.architecture` (ARCHITECTURE_FORMATS) for any other GGUF path;
4. else llama-cpp-python's own fallback, llama-2, with a warning.

The generator logs every choice other than (1); a guess for a file outside the catalog (3, 4) also shows
in its model_id (`+chat:NAME`), so answers from a guessed format are never mistaken for answers produced
with the model's own template.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from llmpilot.errors import ModelNotAvailableError

#: What read a header: llama-cpp-python with vocab_only (the tokenizer and the metadata, no tensors).
#: The `gguf` package would read it without llama.cpp, but it is not a dependency.
HEADER_READER = "llama-cpp-python (a vocab_only model: metadata and tokenizer, no weights)"

#: llama.cpp's `llama_ftype` (general.file_type) → the quantization name used in GGUF file names.
FILE_TYPES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M",
    18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S",
    25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M",
    32: "BF16", 36: "TQ1_0", 37: "TQ2_0",
}  # fmt: skip

#: The llama-cpp-python format for a template-less GGUF of this architecture. Only families with one
#: unambiguous format: a `llama` GGUF may be Llama-2, Llama-3, ChatML (SmolLM) or a base model.
ARCHITECTURE_FORMATS: dict[str, str] = {
    "gemma": "gemma",
    "gemma2": "gemma",
    "gemma3": "gemma",
    "qwen2": "chatml",
    "qwen2moe": "chatml",
    "qwen3": "chatml",
    "qwen3moe": "chatml",
}

#: What llama-cpp-python uses when nothing else is set.
LLAMA_CPP_FALLBACK = "llama-2"

#: Turn markers per built-in format: stop sequences, so a model that writes the next turn's marker as
#: text (base models do) never hands it to the user. The end-of-turn *token* already stops decoding.
FORMAT_MARKERS: dict[str, tuple[str, ...]] = {
    "gemma": ("<end_of_turn>", "<start_of_turn>"),
    "chatml": ("<|im_end|>", "<|im_start|>"),
    "qwen": ("<|im_end|>", "<|im_start|>"),
    "llama-2": ("[INST]", "[/INST]", "<<SYS>>", "</s>"),
    "mistral-instruct": ("[INST]", "[/INST]", "</s>"),
    "llama-3": ("<|eot_id|>", "<|start_header_id|>"),
}

#: Markers looked for in a GGUF's own template: those it uses become stop sequences.
TEMPLATE_MARKERS: tuple[str, ...] = (
    "<|im_end|>", "<|im_start|>", "<end_of_turn>", "<start_of_turn>", "<|eot_id|>", "<|start_header_id|>",
    "<|endoftext|>", "<|end|>", "<|user|>", "[INST]", "[/INST]",
)  # fmt: skip

#: Formats without a system role: llama-cpp-python's "gemma" *drops* the system message (Gemma has no
#: system turn), which would drop the RAG prompt's instructions and sources; they are folded into the
#: first user turn instead, as Gemma 3's own template does.
NO_SYSTEM_ROLE = frozenset({"gemma"})

FormatSource = Literal["gguf-template", "catalog", "architecture", "fallback"]


@dataclass(frozen=True)
class GgufHeader:
    """What a GGUF file says about itself (its metadata key/values)."""

    path: str
    bytes: int
    architecture: str
    name: str | None
    #: general.size_label, e.g. "135M" (the parameter count the converter recorded).
    size_label: str | None
    context_length: int | None
    quantization: str | None
    license: str | None
    chat_template: str | None
    #: Which reader produced this (HEADER_READER).
    reader: str

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        # The template is long Jinja; its presence and kind are what a listing needs.
        data["chat_template"] = template_kind(self.chat_template)
        return data


def template_kind(template: str | None) -> str | None:
    """A short name for a chat template: "ChatML", "Gemma", … or "custom"; None without one."""
    if template is None:
        return None
    for marker, kind in (
        ("<|im_start|>", "ChatML"),
        ("<start_of_turn>", "Gemma"),
        ("<|start_header_id|>", "Llama-3"),
        ("[INST]", "Llama-2/Mistral"),
    ):
        if marker in template:
            return kind
    return "custom"


def header_from_metadata(path: Path, size: int, metadata: Mapping[str, str], reader: str) -> GgufHeader:
    """A GgufHeader from GGUF metadata as llama-cpp-python gives it (every value a string)."""
    arch = metadata.get("general.architecture")
    if not arch:
        raise ModelNotAvailableError(
            f"{path}: the GGUF header has no general.architecture; is it a model file (not a LoRA or "
            "a vocabulary)? Use a GGUF model converted by llama.cpp"
        )
    context = metadata.get(f"{arch}.context_length")
    file_type = metadata.get("general.file_type")
    quant = None
    if file_type is not None and file_type.isdigit():
        quant = FILE_TYPES.get(int(file_type), f"file type {file_type}")
    return GgufHeader(
        path=str(path),
        bytes=size,
        architecture=arch,
        name=metadata.get("general.name"),
        size_label=metadata.get("general.size_label"),
        context_length=int(context) if context is not None and context.isdigit() else None,
        quantization=quant,
        license=metadata.get("general.license"),
        chat_template=metadata.get("tokenizer.chat_template"),
        reader=reader,
    )


def read_gguf_header(path: Path) -> GgufHeader:
    """The header of a GGUF file, read without its weights (about 0.1-0.5 s: the tokenizer is built).

    Cached per (path, size, mtime): the generator reads it to choose the chat format, and `models list`
    reads the same files."""
    path = path.expanduser()
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise ModelNotAvailableError(f"{path}: no such file; check the GGUF path") from None
    except OSError as exc:
        raise ModelNotAvailableError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if not path.is_file():
        raise ModelNotAvailableError(f"{path}: not a file; give the path of a .gguf model file")
    return _read_header(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _read_header(path: str, size: int, _mtime_ns: int) -> GgufHeader:
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != b"GGUF":
        raise ModelNotAvailableError(
            f"{path}: not a GGUF file (it starts with {magic!r}, not b'GGUF'); give a .gguf model file "
            "converted by llama.cpp"
        )
    try:
        import llama_cpp
        from llama_cpp._internals import LlamaModel
    except ImportError as exc:
        raise ModelNotAvailableError(
            f"reading {path} needs llama-cpp-python ({exc}): `pip install llama-cpp-python`"
        ) from None
    # The model alone, not `Llama(vocab_only=True)`: that also creates a context, and llama.cpp then
    # prints a context-size warning on stderr that verbose=False does not silence.
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    try:
        model = LlamaModel(path_model=path, params=params, verbose=False)
    except (ValueError, RuntimeError) as exc:
        raise ModelNotAvailableError(f"{path}: llama.cpp cannot read this GGUF header ({exc})") from None
    try:
        return header_from_metadata(Path(path), size, model.metadata(), HEADER_READER)
    finally:
        model.close()


@dataclass(frozen=True)
class ChatFormat:
    """The format a model is prompted with."""

    #: A llama-cpp-python chat format name; None: the GGUF's own template.
    name: str | None
    source: FormatSource
    #: Stop sequences: the format's turn markers.
    stops: tuple[str, ...]
    #: False: system messages are folded into the first user turn (fold_system).
    system_role: bool
    #: The template's kind ("ChatML", …) when it is the GGUF's own.
    template: str | None = None

    @property
    def label(self) -> str:
        if self.name is None:
            return f"the GGUF's own template ({self.template})"
        why = {
            "catalog": "from the catalog: the GGUF has no chat template",
            "architecture": "chosen by architecture: the GGUF has no chat template",
            "fallback": "llama-cpp-python's fallback: no template, unknown architecture",
        }[self.source]
        return f"{self.name} ({why})"

    @property
    def id_suffix(self) -> str:
        """What the generator's model_id adds: the format when it was guessed for a file outside the
        catalog (by architecture or llama-cpp-python's fallback). A catalog model's format is part of
        the catalog entry, like its file, so its model_id stays `llama-cpp:FILE`."""
        return f"+chat:{self.name}" if self.source in ("architecture", "fallback") else ""


def builtin_format(name: str, source: FormatSource) -> ChatFormat:
    return ChatFormat(
        name=name,
        source=source,
        stops=FORMAT_MARKERS.get(name, ()),
        system_role=name not in NO_SYSTEM_ROLE,
    )


def choose_chat_format(header: GgufHeader, catalog_format: str | None = None) -> ChatFormat:
    """The chat format for this GGUF (see the module docstring for the order). Pure: the generator
    logs a choice other than the template (`models list` shows it instead)."""
    if header.chat_template is not None:
        kind = template_kind(header.chat_template)
        stops = tuple(m for m in TEMPLATE_MARKERS if m in header.chat_template)
        return ChatFormat(name=None, source="gguf-template", stops=stops, system_role=True, template=kind)
    if catalog_format is not None:
        return builtin_format(catalog_format, "catalog")
    by_arch = ARCHITECTURE_FORMATS.get(header.architecture)
    if by_arch is not None:
        return builtin_format(by_arch, "architecture")
    return builtin_format(LLAMA_CPP_FALLBACK, "fallback")


def fold_system(messages: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    """Messages for a format without a system role: the system text goes before the first user turn's
    text (separated by a blank line, as Gemma 3's own template does), or becomes the user turn when
    there is none."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system" and m["content"])
    rest = [dict(m) for m in messages if m["role"] != "system"]
    if not system:
        return rest
    for message in rest:
        if message["role"] == "user":
            message["content"] = f"{system}\n\n{message['content']}"
            return rest
    return [{"role": "user", "content": system}, *rest]
