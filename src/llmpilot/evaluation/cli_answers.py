"""`llmpilot eval score`: score a system's answers (any system) against a dataset's references."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

#: Kept here (not imported from scoring) so `--help` does not load the metric libraries.
TEXT_METRICS_DOC = ("bleu", "chrf", "rouge1", "rouge2", "rougeL", "meteor", "bertscore_f1", "moverscore")


def register(app: typer.Typer) -> None:
    @app.command("score")
    def score(
        dataset: Annotated[Path, typer.Option(help="Dataset (any supported format) with reference answers.")],
        predictions: Annotated[Path, typer.Option(help='JSONL: {"query_id", "answer", "contexts"?}.')],
        json_out: Annotated[Path, typer.Option("--json", help="Write the scores here.")],
        metrics: Annotated[
            str,
            typer.Option(
                help="Comma-separated, from: bleu,chrf,rouge1,rouge2,rougeL,meteor,bertscore_f1,moverscore."
            ),
        ] = ",".join(TEXT_METRICS_DOC),
        embedder: Annotated[
            str | None,
            typer.Option(help="Also report similarity with this embedder (e.g. e5-small)."),
        ] = None,
        judge_config: Annotated[
            Path | None,
            typer.Option(help="Pipeline config whose generator judges faithfulness and relevance."),
        ] = None,
        workdir: Annotated[Path, typer.Option(help="Where converted datasets are cached.")] = Path(
            ".llmpilot-bench"
        ),
    ) -> None:
        """Score answers: BLEU, chrF, ROUGE-1/2/L (Korean-aware), optional embedding similarity; 95% CIs."""
        from rich.console import Console

        from llmpilot import registry
        from llmpilot.config import EmbedderConfig
        from llmpilot.evaluation.datasets import load_dataset
        from llmpilot.evaluation.importers import as_dataset_folder
        from llmpilot.evaluation.scoring import TEXT_METRICS, load_predictions, score_predictions

        wanted = [m.strip() for m in metrics.split(",") if m.strip()]
        unknown = sorted(set(wanted) - set(TEXT_METRICS))
        if unknown:
            raise typer.BadParameter(f"unknown metrics {unknown}; choose from {', '.join(TEXT_METRICS)}")
        ds = load_dataset(as_dataset_folder(dataset, workdir / "datasets"), include_unjudged=True)
        preds = load_predictions(predictions, ds)
        emb = registry.embedders.get(embedder)(EmbedderConfig(name=embedder)) if embedder else None
        judge_gen = None
        if judge_config is not None:
            from llmpilot.config import load_config

            gen_cfg = load_config(judge_config).generator
            judge_gen = registry.generators.get(gen_cfg.name)(gen_cfg)
        result = score_predictions(ds, preds, metrics=wanted, embedder=emb, judge_generator=judge_gen)
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        console = Console()
        for name, value in result["metrics"].items():
            if not name.endswith(("_ci_low", "_ci_high")):
                low, high = result["metrics"][f"{name}_ci_low"], result["metrics"][f"{name}_ci_high"]
                console.print(f"{name:20} {value:.4f}  [95% CI {low:.4f}, {high:.4f}]")
        console.print(f"{result['n_queries']} queries scored; wrote {json_out}")
