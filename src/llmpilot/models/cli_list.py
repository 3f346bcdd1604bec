"""`llmpilot models list`: print the catalog (models/catalog.py), one block per model or as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from llmpilot.cli_options import SetOpt, check_overrides_have_project
from llmpilot.generation.chat_formats import HEADER_READER
from llmpilot.generation.fetched import megabytes, models_dir
from llmpilot.models.catalog import CatalogEntry, catalog_entries

out = Console()

LIST_HELP = "\n\n".join(
    [
        "List the model catalog: the local GGUF models shipped on PyPI (installed or fetched, or the "
        "command that gets them), GGUF files given with --gguf or named by the project's config and "
        "search spaces, the OpenAI-compatible endpoints they configure, and the project's registered "
        "adapters; with size, context, quantization, chat format and licence.",
        "GGUF headers are read without loading weights; endpoints are not contacted and keys never shown "
        '(only the name of the variable that holds one). --json prints {"models": [...], "models_dir", '
        '"header_reader"}.',
    ]
)


def _flag(value: bool | None, yes: str, no: str) -> str | None:
    return None if value is None else (yes if value else no)


def entry_lines(e: CatalogEntry) -> list[str]:
    """The readable block of one entry: a head line, then only the lines whose facts are known."""
    facts = ", ".join(
        x
        for x in (
            f"{e.parameters} parameters" if e.parameters else None,
            e.architecture,
            e.quantization,
            f"context {e.context_length:,} tokens" if e.context_length else None,
            _flag(e.chat_tuned, "chat-tuned", "base (not chat-tuned)"),
            f"languages {', '.join(e.languages)}" if e.languages else None,
        )
        if x
    )
    sizes = "; ".join(
        x
        for x in (
            f"file {megabytes(e.file_bytes)}" if e.file_bytes else None,
            f"download {megabytes(e.download_bytes)}"
            if e.download_bytes and e.download_bytes != e.file_bytes
            else None,
            f"licence {e.licence}" if e.licence else None,
        )
        if x
    )
    key = None
    if e.api_key_env:
        key = f"  key from ${e.api_key_env} ({'set' if e.api_key_set else 'not set'})"
    use = ", ".join(f"{k}: {v}" for k, v in e.generator.items())
    lines = [
        f"{e.name}  ({e.status})  [{e.kind}]",
        f"  {e.description}",
        f"  {facts}" if facts else None,
        f"  chat format: {e.chat_format}" if e.chat_format else None,
        f"  {sizes}" if sizes else None,
        f"  from {e.source}" if e.source and e.kind == "local" else None,
        f"  path {e.path}" if e.path and e.kind != "local" else None,
        key,
        f"  metrics {json.dumps(e.notes['metrics'], sort_keys=True)}" if e.notes.get("metrics") else None,
        f"  use: generator: {{{use}}}",
        f"  used in: {', '.join(e.used_in)}" if e.used_in else None,
    ]
    return [line for line in lines if line is not None]


def list_command(
    project: Annotated[
        Path | None,
        typer.Option("--project", "-p", help="Also list the models this project's config and store name."),
    ] = None,
    overrides: SetOpt = None,
    gguf: Annotated[
        list[Path] | None,
        typer.Option("--gguf", help="A GGUF file to describe from its header (repeatable)."),
    ] = None,
    space: Annotated[
        list[Path] | None,
        typer.Option("--space", help="A search space YAML whose generators to list too (repeatable)."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the catalog as JSON.")] = False,
) -> None:
    check_overrides_have_project(overrides, project)
    entries = catalog_entries(project=project, gguf=gguf or (), spaces=space or (), overrides=overrides or ())
    if json_out:
        payload = {
            "models": [e.to_dict() for e in entries],
            "models_dir": str(models_dir()),
            "header_reader": HEADER_READER,
        }
        print(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    # One block per model, not a table: a dozen columns of long text are unreadable at 80 columns.
    for i, entry in enumerate(entries):
        if i:
            out.print("")
        for line in entry_lines(entry):
            out.print(line, markup=False, highlight=False, soft_wrap=True)
    out.print("")
    out.print(
        f"fetched models live in {models_dir()} (LLMPILOT_MODELS); GGUF headers read with {HEADER_READER}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


list_command.__doc__ = LIST_HELP
