"""`llmpilot strategies`: the measured comparison of prompt, RAG, fine-tuning and hybrid. Option parsing
and printing only; the work is llmpilot.finetune.strategies."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from llmpilot.cli_options import SetOpt
from llmpilot.finetune.strategy_scoring import STRATEGIES

console = Console()


def strategies_command(
    dataset: Annotated[
        Path,
        typer.Option(
            help="qa/chat: an eval dataset folder (corpus.jsonl, queries.jsonl with answers, qrels.jsonl); "
            'summarize: a pairs.jsonl of {"id", "document", "summary"} or its folder.'
        ),
    ],
    task: Annotated[str, typer.Option(help="qa | summarize | chat.")],
    out: Annotated[
        Path,
        typer.Option("--out", help="Writes results.json, report.html, predictions.jsonl, adapters/ here."),
    ],
    base: Annotated[
        str, typer.Option(help="Base model for all four: smollm2-135m, gemma3-270m, an HF folder or a .gguf.")
    ] = "smollm2-135m",
    method: Annotated[
        str, typer.Option(help="PEFT method: lora | prefix | prompt | ia3 | qlora (GPU).")
    ] = "lora",
    config: Annotated[
        Path | None,
        typer.Option(help="qa/chat: pipeline config of rag and hybrid (e.g. an optimizer's best.yaml)."),
    ] = None,
    overrides: SetOpt = None,
    test_size: Annotated[int, typer.Option(min=1, help="Held-out items scored.")] = 40,
    val_size: Annotated[
        int, typer.Option(min=0, help="Train items held out to pick the prompt and early-stop training.")
    ] = 6,
    train_size: Annotated[int, typer.Option(min=1, help="At most this many training items.")] = 200,
    epochs: Annotated[int, typer.Option(min=1)] = 2,
    max_steps: Annotated[int | None, typer.Option(min=1, help="Stop training after this many steps.")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 4,
    max_length: Annotated[int, typer.Option(min=32, help="Training tokens per example.")] = 768,
    seed: Annotated[int, typer.Option()] = 0,
    max_tokens: Annotated[int, typer.Option(min=1, help="Answer budget in tokens, the same for all.")] = 64,
    shots: Annotated[int, typer.Option(min=0, help="Few-shot exemplars the prompt strategy may use.")] = 2,
    bertscore: Annotated[bool, typer.Option(help="Also score BERTScore (MiniLM; slower).")] = False,
    only: Annotated[
        str, typer.Option(help="Comma-separated subset of prompt,rag,finetune,hybrid.")
    ] = ",".join(STRATEGIES),
    threads: Annotated[
        int | None,
        typer.Option(min=1, help="torch threads (default: all cores; on a busy machine 1 can train faster)."),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Progress bars on stderr.")] = True,
) -> None:
    """Run the base model with a tuned prompt, RAG, the fine-tuned model, and fine-tuned + RAG on one
    held-out split; report quality (CIs, paired tests), cost and complexity, and recommend the simplest
    strategy that is not significantly worse than the best. Interrupted runs resume."""
    from llmpilot.finetune.strategies import StrategySettings, run_strategies
    from llmpilot.finetune.strategy_data import check_task

    settings = StrategySettings(
        task=check_task(task),
        base=base,
        method=method,
        config=config,
        overrides=tuple(overrides or ()),
        test_size=test_size,
        val_size=val_size,
        train_size=train_size,
        epochs=epochs,
        max_steps=max_steps,
        batch_size=batch_size,
        max_length=max_length,
        seed=seed,
        max_tokens=max_tokens,
        shots=shots,
        bertscore=bertscore,
        n_threads=threads,
        strategies=tuple(s.strip() for s in only.split(",") if s.strip()),
    )
    results = run_strategies(dataset, out, settings, progress=progress)
    metric = results["primary_metric"]
    table = Table(title=f"{task} on {dataset} ({results['n']['test']} test items)")
    for column in ("strategy", metric, "95% CI", "train s", "s/answer", "prompt tokens", "disk MB"):
        table.add_column(column)
    for name, entry in results["strategies"].items():
        lo, hi = entry["ci"][metric]
        cost = entry["cost"]
        table.add_row(
            name + (" *" if name == results["recommended"] else ""),
            f"{entry['metrics'][metric]:.4f}",
            f"[{lo:.4f}, {hi:.4f}]",
            f"{cost['train_seconds']:.0f}",
            f"{cost['seconds_per_answer']:.2f}",
            f"{cost['prompt_tokens_per_answer']:.0f}",
            f"{cost['disk_mb']:.1f}",
        )
    console.print(table)
    console.print(f"recommended: {results['recommended']} — {results['recommendation_reason']}", markup=False)
    console.print(f"wrote {out / 'results.json'} and {out / 'report.html'}", markup=False)
