"""`llmpilot models bench --embedders A,B --tasks …`: MTEB-style embedder benchmarks, printed as a table
and written as JSON. No logic here beyond splitting the comma lists; the work is `embed_bench`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from llmpilot.models.embed_data import TASK_TYPES
from llmpilot.models.embed_tasks import embed_bench

out = Console()

EMBED_BENCH_HELP = "\n\n".join(
    [
        "Benchmark embedders the way MTEB does, on local files: retrieval (nDCG@10 on ../shared/data's "
        "scifact and autorag-ko, and on your eval set with -p), STS (Spearman of cosine vs gold), "
        "classification (logistic regression on 8 examples per label, 10 draws, accuracy), clustering "
        "(mini-batch k-means V-measure) and pair classification (max AP), in Korean and English.",
        "--tasks takes task types (" + ", ".join(TASK_TYPES) + ") or single sets (sts-ko, "
        "retrieval-scifact, …). --embedders takes registered names (e5-small, minilm) or NAME:MODEL "
        "(sentence-transformers:/path/to/model).",
        '--json writes {"embedders": {name: {task: {"main_score", "metric", "n", "seconds", "lang"}}}, '
        '"tasks": {task: {"type", "lang", "source", "licence", "n"}}}.',
    ]
)


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _table(result: dict[str, Any]) -> Table:
    table = Table(title="Embedder benchmarks (MTEB-style main scores)")
    table.add_column("task")
    table.add_column("lang")
    table.add_column("metric")
    names = list(result["embedders"])
    for name in names:
        table.add_column(name, justify="right")
    for task, info in result["tasks"].items():
        first = next(iter(result["embedders"].values()))[task]
        cells = [
            f"{scores[task]['main_score']:.4f} ({scores[task]['seconds']:.0f}s)"
            for scores in result["embedders"].values()
        ]
        table.add_row(f"{task} (n={info['n']})", info["lang"], first["metric"], *cells)
    return table


def embedders_bench_command(
    embedders: Annotated[str, typer.Option(help="Comma-separated embedders: e5-small,minilm,NAME:MODEL.")],
    tasks: Annotated[
        str, typer.Option(help="Comma-separated task types or sets.")
    ] = "retrieval,sts,classification,clustering",
    project: Annotated[
        Path | None,
        typer.Option("-p", "--project", help="Your eval set: a BEIR-format folder, or a project with eval/."),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(help="At most N items per set (per split; N queries for retrieval).")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the results as JSON here.")] = None,
) -> None:
    """MTEB-style embedder benchmarks (the help text is EMBED_BENCH_HELP)."""
    result = embed_bench(_split(embedders), _split(tasks), limit=limit, project=project, progress=True)
    out.print(_table(result))
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        out.print(f"wrote {json_out}")


embedders_bench_command.__doc__ = EMBED_BENCH_HELP
