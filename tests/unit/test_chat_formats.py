"""Choosing a GGUF's chat format (generation/chat_formats.py): the order template → catalog →
architecture → fallback, the stop sequences, and folding the system message for Gemma."""

from __future__ import annotations

from pathlib import Path

import pytest
from llama_cpp import llama_chat_format

from llmpilot.generation.chat_formats import (
    ARCHITECTURE_FORMATS,
    LLAMA_CPP_FALLBACK,
    GgufHeader,
    choose_chat_format,
    fold_system,
    header_from_metadata,
    template_kind,
)

CHATML = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"


def header(arch: str, template: str | None = None) -> GgufHeader:
    metadata = {"general.architecture": arch, f"{arch}.context_length": "2048", "general.file_type": "15"}
    if template is not None:
        metadata["tokenizer.chat_template"] = template
    return header_from_metadata(Path("/m.gguf"), 10, metadata, "test")


def test_header_fields_from_metadata() -> None:
    h = header("qwen2", CHATML)
    assert (h.architecture, h.context_length, h.quantization, h.bytes) == ("qwen2", 2048, "Q4_K_M", 10)
    assert h.to_dict()["chat_template"] == "ChatML"


def test_the_ggufs_own_template_wins_over_the_catalog() -> None:
    fmt = choose_chat_format(header("gemma3", CHATML), "gemma")
    assert fmt.name is None and fmt.source == "gguf-template" and fmt.template == "ChatML"
    assert fmt.stops == ("<|im_end|>", "<|im_start|>")
    assert fmt.id_suffix == ""


def test_catalog_format_for_a_template_less_gguf() -> None:
    fmt = choose_chat_format(header("llama"), "gemma")
    assert (fmt.name, fmt.source, fmt.system_role) == ("gemma", "catalog", False)
    assert fmt.stops == ("<end_of_turn>", "<start_of_turn>")
    assert fmt.id_suffix == ""  # the catalog entry names the model and its format


@pytest.mark.parametrize(("arch", "expected"), sorted(ARCHITECTURE_FORMATS.items()))
def test_architecture_picks_the_format(arch: str, expected: str) -> None:
    fmt = choose_chat_format(header(arch))
    assert (fmt.name, fmt.source) == (expected, "architecture")
    assert "architecture" in fmt.label and fmt.id_suffix == f"+chat:{expected}"


def test_unknown_architecture_falls_back_to_llama_cpps_default_and_says_so() -> None:
    fmt = choose_chat_format(header("mamba"))
    assert (fmt.name, fmt.source) == (LLAMA_CPP_FALLBACK, "fallback")
    assert "[INST]" in fmt.stops and "fallback" in fmt.label and fmt.id_suffix == "+chat:llama-2"


def test_template_kinds() -> None:
    assert template_kind(None) is None
    assert template_kind("{{ '<start_of_turn>user' }}") == "Gemma"
    assert template_kind("{{ '<|start_header_id|>' }}") == "Llama-3"
    assert template_kind("{{ messages }}") == "custom"


def test_fold_system_prepends_the_system_text_to_the_first_user_turn() -> None:
    messages = [
        {"role": "system", "content": "Use the sources."},
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "Q2"},
    ]
    assert fold_system(messages) == [
        {"role": "user", "content": "Use the sources.\n\nQ1"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "Q2"},
    ]
    assert messages[1]["content"] == "Q1"  # the caller's messages are not changed


def test_fold_system_without_a_user_turn_makes_one_and_without_system_changes_nothing() -> None:
    assert fold_system([{"role": "system", "content": "S"}]) == [{"role": "user", "content": "S"}]
    plain = [{"role": "user", "content": "Q"}]
    assert fold_system(plain) == plain


def test_llama_cpps_gemma_format_drops_the_system_message_so_it_is_folded() -> None:
    messages = [{"role": "system", "content": "SOURCES"}, {"role": "user", "content": "Q"}]
    # Why fold_system exists: llama-cpp-python's "gemma" format silently drops the system turn.
    assert "SOURCES" not in llama_chat_format.format_gemma(messages=messages).prompt
    folded = llama_chat_format.format_gemma(messages=fold_system(messages))
    assert folded.prompt == "<start_of_turn>user\nSOURCES\n\nQ<end_of_turn>\n<start_of_turn>model\n"
    assert folded.stop == "<end_of_turn>\n"
