"""`llmpilot models bench`: parse the options, load the benchmark (all row errors before any model loads),
run each model with a progress line on stderr, print the table, write the JSON. The work is in
`mc_data` (loading) and `bench` (running, resuming, summarising)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from llmpilot.errors import ConfigError
from llmpilot.models.bench import BenchProgress, bench_models, summarize
from llmpilot.models.mc_data import BUILTIN_BENCHMARKS, load_benchmark
from llmpilot.models.perturb import PERTURBATIONS
from llmpilot.models.types import PromptFormat

out = Console()
err = Console(stderr=True)

#: One string per paragraph (rich would keep a docstring's hard line breaks); set as the docstring below.
BENCH_HELP = "\n\n".join(
    [
        "Rank models on multiple-choice benchmarks by log-likelihood, the EleutherAI harness's method: "
        "each choice's log-probability after the prompt; accuracy (raw argmax) and accuracy_norm (divided by "
        "the choice's length), 95% bootstrap CIs, a paired bootstrap test between every two models, the "
        "expected calibration error of the choice probabilities, and with --robustness the accuracy on "
        "perturbed copies of the items.",
        f"--benchmark is a packaged set ({', '.join(BUILTIN_BENCHMARKS)}) or a FILE: JSONL with one "
        '{"id", "subject", "question", "choices": [...], "answer", "lang"} per line, or CSV with a header '
        "id,subject,question,answer,lang and the choices in a `choices` column (a JSON list) or in columns "
        "choice1..choiceN. answer is a 0-based index or a letter (A = first choice); subject and lang may "
        "be left out. Every bad row is reported with its line before any model loads.",
        "--limit N scores a seeded sample of N items stratified by subject (not the first N rows), so the "
        "per-subject accuracies stay meaningful; the same N gives the same items every run.",
        "Each item's scores are appended to DIR/items/*.jsonl as they are made: a run that was interrupted "
        "resumes where it stopped; a changed model file, --limit, --shots or benchmark starts afresh.",
        '--json writes {"models": {name: {"accuracy", "accuracy_norm", "ci", "ci_norm", "n", "by_subject", '
        '"seconds", "tokens_per_s", "calibration_ece", "robustness", "load_seconds", "peak_rss_bytes", '
        '"model_bytes", "shots"}}, "benchmark", "n", "paired", "format", "source", "created"} '
        "(default DIR/<benchmark>.json).",
        "With --embedders instead of --models it runs the MTEB-style embedder tasks (--tasks; see "
        "docs/MODELS.md): retrieval, STS, classification, clustering, pair classification; Korean, English.",
    ]
)


def _names(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


class _ProgressLines:
    """One bar per model (and perturbation): items done, accuracy so far, tokens/s."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[tuple[str, str | None], TaskID] = {}

    def __call__(self, event: BenchProgress) -> None:
        key = (event.model, event.perturbation)
        if key not in self.tasks:
            label = event.model + (f" [{event.perturbation}]" if event.perturbation else "")
            self.tasks[key] = self.progress.add_task(escape(label), total=event.total, acc="", speed="")
        self.progress.update(
            self.tasks[key],
            completed=event.done,
            acc=f"acc {event.accuracy:.3f}",
            speed=f"{event.tokens_per_s:,.0f} tok/s",
        )


def _mb(value: Any) -> str:
    return "-" if value is None else f"{value / 2**20:,.0f}"


def print_table(summary: dict[str, Any]) -> None:
    """The headline numbers, one row per model (MB: peak resident memory while scoring); the rest (by
    subject, load time, model size) is in the JSON."""
    kinds = sorted({kind for m in summary["models"].values() for kind in m["robustness"]})
    table = Table(
        title=f"{summary['benchmark']} ({summary['n']} items, {summary['format']}; robustness = acc)"
    )
    table.add_column("model", no_wrap=True)
    table.add_column("acc [95% CI]", justify="right", no_wrap=True)
    for column in ("acc_norm", "ECE", *kinds, "s", "tok/s", "MB"):
        table.add_column(column, justify="right", no_wrap=True)
    for name, m in summary["models"].items():
        table.add_row(
            escape(name),
            f"{m['accuracy']:.3f} [{m['ci'][0]:.2f}, {m['ci'][1]:.2f}]",
            f"{m['accuracy_norm']:.3f}",
            f"{m['calibration_ece']:.3f}",
            *(f"{m['robustness'][k]['accuracy']:.3f}" if k in m["robustness"] else "-" for k in kinds),
            f"{m['seconds']:.1f}",
            "-" if m["tokens_per_s"] is None else f"{m['tokens_per_s']:,.0f}",
            _mb(m["peak_rss_bytes"]),
        )
    out.print(table)
    for pair in summary["paired"]:
        test = pair["accuracy"]
        if test is not None:
            out.print(
                f"{escape(pair['a'])} - {escape(pair['b'])}: accuracy difference {test['mean_diff']:+.3f} "
                f"[{test['ci_low']:+.3f}, {test['ci_high']:+.3f}], paired bootstrap "
                f"p = {test['p_value']:.3f} "
                f"(n = {pair['n']})",
                soft_wrap=True,
            )


def bench_command(
    models: Annotated[
        str | None, typer.Option(help="Comma-separated: catalog names, .gguf files, or hf:FOLDER.")
    ] = None,
    benchmark: Annotated[
        str, typer.Option(help=f"{' or '.join(BUILTIN_BENCHMARKS)}, or a .jsonl/.csv FILE.")
    ] = "mmlu-en",
    limit: Annotated[
        int | None, typer.Option(help="Score a seeded sample of N items stratified by subject.", min=1)
    ] = None,
    shots: Annotated[
        int, typer.Option(help="Few-shot examples per item, taken from the benchmark.", min=0)
    ] = 0,
    prompt_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="letters (MMLU: scored on ' A', ' B', …) or continuation (HellaSwag: scored on each "
            "choice's text); default: the packaged benchmark's own, letters for a FILE.",
        ),
    ] = None,
    robustness: Annotated[
        str | None,
        typer.Option(help=f"Also score perturbed copies: comma-separated from {', '.join(PERTURBATIONS)}."),
    ] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads per model (llama.cpp).", min=1)] = None,
    n_ctx: Annotated[int, typer.Option(help="Context window for the models.", min=256)] = 4096,
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="Write the results JSON here (default DIR/<benchmark>.json)."),
    ] = None,
    out_dir: Annotated[
        Path, typer.Option("--out", help="DIR: per-item scores (resumable) and the JSON.")
    ] = Path("models-bench"),
    embedders: Annotated[
        str | None,
        typer.Option(help="MTEB-style embedder benchmark instead: e5-small,minilm,NAME:MODEL (see --tasks)."),
    ] = None,
    tasks: Annotated[
        str,
        typer.Option(
            help="With --embedders: task types (retrieval,sts,classification,clustering,"
            "pair_classification) or single sets (sts-ko, retrieval-scifact, …)."
        ),
    ] = "retrieval,sts,classification,clustering",
    project: Annotated[
        Path | None,
        typer.Option(
            "-p", "--project", help="With --embedders: your eval set (a BEIR folder or a project with eval/)."
        ),
    ] = None,
) -> None:
    """Rank models on multiple-choice benchmarks (the help text is BENCH_HELP)."""
    if embedders is not None:
        if models is not None:
            raise ConfigError(
                "--models and --embedders: benchmark language models or embedders, not both at once"
            )
        from llmpilot.models.cli_embed_bench import embedders_bench_command

        embedders_bench_command(embedders, tasks, project, limit, json_out)
        return
    specs = _names(models)
    if not specs:
        raise ConfigError(
            "--models: name at least one model, e.g. --models smollm2-135m (see `llmpilot models list`)"
        )
    fmt: PromptFormat | None = None
    if prompt_format == "letters":
        fmt = "letters"
    elif prompt_format == "continuation":
        fmt = "continuation"
    elif prompt_format is not None:
        raise ConfigError(f"--format: {prompt_format!r} is not letters or continuation")
    kinds = _names(robustness)
    unknown = [kind for kind in kinds if kind not in PERTURBATIONS]
    if unknown:
        raise ConfigError(f"--robustness: unknown {', '.join(unknown)}; use {', '.join(PERTURBATIONS)}")
    bench = load_benchmark(benchmark, limit=limit, fmt=fmt)  # every bad row reported before a model loads
    err.print(
        f"{bench.name}: {len(bench.items)} items ({bench.format}), {shots}-shot; models {', '.join(specs)}; "
        f"per-item files in {out_dir / 'items'}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[acc]}"),
        TextColumn("{task.fields[speed]}"),
        TimeElapsedColumn(),
        console=err,
    ) as progress:
        runs = bench_models(
            specs,
            bench,
            shots=shots,
            out_dir=out_dir,
            robustness=kinds,
            n_ctx=n_ctx,
            n_threads=threads,
            progress=_ProgressLines(progress),
        )
    summary = summarize(runs, bench)
    print_table(summary)
    target = json_out or out_dir / f"{bench.name}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    out.print(f"wrote {target}", markup=False, highlight=False, soft_wrap=True)


bench_command.__doc__ = BENCH_HELP
