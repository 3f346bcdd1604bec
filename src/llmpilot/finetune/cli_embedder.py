"""`llmpilot finetune-embedder`: contrastive fine-tuning of a sentence embedder on a dataset folder.

A plain function: `llmpilot.cli` registers it with `app.command("finetune-embedder")`. Errors a
user can cause (a bad dataset folder, an unknown base, an occupied --out) are `LlmpilotError`s,
which the CLI's `main` prints as one line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, cast

import typer

from llmpilot.errors import ConfigError


def finetune_embedder_command(
    dataset: Annotated[
        Path,
        typer.Option(
            help="Dataset folder: corpus.jsonl, queries.jsonl, qrels.jsonl (synthetic reads the corpus only)."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Folder to write the fine-tuned sentence-transformers model to.")],
    base: Annotated[
        str, typer.Option(help="Model to start from: minilm, or a sentence-transformers folder.")
    ] = "minilm",
    epochs: Annotated[int, typer.Option(min=1, help="Passes over the training pairs.")] = 1,
    batch_size: Annotated[
        int, typer.Option(min=2, help="Pairs per step; each pair's passage is a negative for the others.")
    ] = 32,
    seed: Annotated[int, typer.Option(help="Seed for sampling, batching, negatives and dropout.")] = 0,
    queries: Annotated[
        str,
        typer.Option(
            help="synthetic (titles and sentences of the corpus), train (the judged queries) or both."
        ),
    ] = "both",
    max_synthetic: Annotated[
        int, typer.Option(min=0, help="At most this many synthetic pairs (CPU time grows with it).")
    ] = 2000,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the training result as JSON here.")
    ] = None,
) -> None:
    """Fine-tune an embedder (in-batch + BM25 hard negatives); use it as
    `embedder: {name: sentence-transformers, model: OUT}`."""
    from rich.console import Console

    from llmpilot.finetune.embedder import QUERY_SOURCES, QuerySource, finetune_embedder
    from llmpilot.progress import Reporter, Task

    if queries not in QUERY_SOURCES:
        raise ConfigError(f"--queries {queries!r}: choose one of {', '.join(QUERY_SOURCES)}")
    reporter = Reporter(enabled=True)
    tasks: dict[str, Task] = {}
    labels = {"mine": "mining BM25 hard negatives", "train": "training"}

    done_so_far: dict[str, int] = {}

    def track(stage: str, done: int, total: int) -> None:
        # The library reports (stage, done, total); the bars want increments.
        if stage not in tasks:
            tasks[stage] = reporter.task(labels.get(stage, stage), total)
        tasks[stage].advance(done - done_so_far.get(stage, 0))
        done_so_far[stage] = done

    with reporter.session():
        result = finetune_embedder(
            dataset,
            base,
            out,
            epochs=epochs,
            batch_size=batch_size,
            seed=seed,
            queries=cast(QuerySource, queries),  # checked against QUERY_SOURCES above
            max_synthetic=max_synthetic,
            progress=track,
        )
    console = Console()
    losses = result.losses
    console.print(
        f"fine-tuned {result.base} on {result.train_pairs} pairs "
        f"({', '.join(f'{k} {v}' for k, v in sorted(result.pair_sources.items()))}) in {result.steps} steps, "
        f"{result.seconds:.0f} s; loss {losses[0]:.3f} -> {losses[-1]:.3f}",
        markup=False,
        highlight=False,
    )
    console.print(
        f"saved to {out}; use it with  embedder: {{name: sentence-transformers, model: {out.resolve()}}}",
        markup=False,
        highlight=False,
    )
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result.as_dict(), indent=2) + "\n", encoding="utf-8")
