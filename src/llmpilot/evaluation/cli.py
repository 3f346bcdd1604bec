"""`llmpilot eval`: evaluate one pipeline config on a dataset; subcommands handle datasets and
predictions. Thin: parses, calls the library, prints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmpilot.cli_options import SetOpt
from llmpilot.errors import LlmpilotError

eval_app = typer.Typer(
    help="Evaluate one config on a dataset (llmpilot eval --dataset D --config C --out O), "
    "or work with eval datasets and predictions (subcommands).",
    invoke_without_command=True,
)


@eval_app.callback()
def evaluate(
    ctx: typer.Context,
    dataset: Annotated[
        Path | None, typer.Option(help="Dataset folder: corpus.jsonl, queries.jsonl, qrels.jsonl.")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="Pipeline config YAML to evaluate.")] = None,
    overrides: SetOpt = None,
    out: Annotated[Path | None, typer.Option(help="Folder for results.json and report.html.")] = None,
    workdir: Annotated[Path, typer.Option(help="Work folder: artifact cache shared with `optimize`.")] = Path(
        ".llmpilot-bench"
    ),
    answer_metrics: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated answer metrics (rougeL, chrf, bleu, meteor, bertscore_f1, moverscore, "
            "rouge1, rouge2): also generate an answer per query with the config's generator and score it."
        ),
    ] = None,
    max_queries: Annotated[
        int | None, typer.Option(help="Use a fixed random sample of this many queries.")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Evaluate one config exactly as `optimize` scores each trial (metrics with 95% CIs, worst queries)."""
    if ctx.invoked_subcommand is not None:
        return
    if dataset is None or config is None or out is None:
        raise LlmpilotError(
            "llmpilot eval needs --dataset DIR --config FILE --out DIR (or a subcommand; see --help)"
        )
    from rich.console import Console

    from llmpilot.optimization.run import optimize
    from llmpilot.optimization.settings import SearchSettings
    from llmpilot.options import split_names

    # A config is a search space with nothing varied: one trial, scored on every query.
    settings = SearchSettings(
        strategy="grid", answer_metrics=split_names(answer_metrics), max_queries=max_queries
    )
    result = optimize(
        dataset, config, out, settings, workdir=workdir, progress=progress, overrides=overrides or ()
    )
    trial = result.results.best_trial()
    console = Console()
    for name, m in trial.metrics.items():
        console.print(f"{name:11} {m.mean:.4f}  [95% CI {m.ci_low:.4f}, {m.ci_high:.4f}]  n={m.n}")
    console.print(f"wrote {result.results_json}, {result.report_html}")


def _register_subcommands() -> None:
    from llmpilot.evaluation import cli_answers, cli_import, cli_synth

    cli_import.register(eval_app)
    cli_answers.register(eval_app)
    cli_synth.register(eval_app)


_register_subcommands()
