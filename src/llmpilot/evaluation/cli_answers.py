"""`llmpilot eval score`: score a system's answers (any system) against a dataset's references."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

#: Kept here (not imported from scoring) so `--help` does not load the metric libraries.
TEXT_METRICS_DOC = (
    "bleu",
    "chrf",
    "rouge1",
    "rouge2",
    "rougeL",
    "meteor",
    "bertscore_f1",
    "moverscore",
    "bleu_corpus",
    "chrf_corpus",
)


#: One string per paragraph: rich would otherwise keep a docstring's hard line breaks.
SCORE_HELP = "\n\n".join(
    [
        "Score answers against reference answers, with 95% bootstrap CIs.",
        "Sentence-level means: BLEU, chrF, ROUGE-1/2/L, METEOR (Korean-aware tokens), BERTScore F1 and "
        "MoverScore (MiniLM token embeddings). Corpus-level: bleu_corpus and chrf_corpus (sacrebleu "
        "corpus scores, n-gram statistics summed over all predictions). Optional: embedding similarity "
        "(--embedder) and LLM-judge criteria (--judge-config).",
        'JSON written to --json: {"metrics": {NAME, NAME_ci_low, NAME_ci_high, ...} (all 0-1), '
        '"per_query": [{"query_id", sentence-level values}], "n_queries", "missing": '
        '{"no_reference_answer", "no_prediction", NAME: count}, "options": {"bertscore_idf", '
        '"moverscore_idf"}}. Corpus scores have no per-query values: their CI resamples the queries '
        "and recomputes the corpus score.",
    ]
)


def register(app: typer.Typer) -> None:
    @app.command("score", help=SCORE_HELP)
    def score(
        dataset: Annotated[Path, typer.Option(help="Dataset (any supported format) with reference answers.")],
        predictions: Annotated[Path, typer.Option(help='JSONL: {"query_id", "answer", "contexts"?}.')],
        json_out: Annotated[Path, typer.Option("--json", help="Write the scores here.")],
        metrics: Annotated[
            str,
            typer.Option(
                help="Comma-separated, from: " + ",".join(TEXT_METRICS_DOC) + ". The *_corpus ones are "
                "sacrebleu corpus scores over all predictions (no per-query values)."
            ),
        ] = ",".join(TEXT_METRICS_DOC),
        bertscore_idf: Annotated[
            bool,
            typer.Option(
                "--bertscore-idf/--no-bertscore-idf",
                help="Weigh BERTScore tokens by idf over the reference answers (bert-score's idf=True).",
            ),
        ] = False,
        moverscore_idf: Annotated[
            bool,
            typer.Option(
                "--moverscore-idf/--no-moverscore-idf",
                help="idf-weighted EMD marginals for MoverScore, as in the original; off: uniform.",
            ),
        ] = True,
        seed: Annotated[int, typer.Option(help="Seed of the bootstrap CIs.")] = 0,
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
        """Score answers against reference answers, with 95% bootstrap CIs (help: SCORE_HELP)."""
        from rich.console import Console

        from llmpilot import factory
        from llmpilot.config import parse_config
        from llmpilot.evaluation.datasets import load_dataset
        from llmpilot.evaluation.importers import as_dataset_folder
        from llmpilot.evaluation.scoring import TEXT_METRICS, load_predictions, score_predictions

        wanted = [m.strip() for m in metrics.split(",") if m.strip()]
        unknown = sorted(set(wanted) - set(TEXT_METRICS))
        if unknown:
            raise typer.BadParameter(f"unknown metrics {unknown}; choose from {', '.join(TEXT_METRICS)}")
        ds = load_dataset(as_dataset_folder(dataset, workdir / "datasets"), include_unjudged=True)
        preds = load_predictions(predictions, ds)
        # Through parse_config: an unknown name is a clean error listing the registered embedders.
        emb = (
            factory.embedder(parse_config({"embedder": {"name": embedder}}, source="--embedder").embedder)
            if embedder
            else None
        )
        judge_gen = None
        if judge_config is not None:
            from llmpilot.config import load_config
            from llmpilot.project import resolve_generator_paths

            # Model paths in a config file are relative to its folder, as in a project.
            gen_cfg = resolve_generator_paths(load_config(judge_config).generator, judge_config.parent)
            judge_gen = factory.generator(gen_cfg)
        result = score_predictions(
            ds,
            preds,
            metrics=wanted,
            embedder=emb,
            judge_generator=judge_gen,
            bertscore_idf=bertscore_idf,
            moverscore_idf=moverscore_idf,
            seed=seed,
        )
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        console = Console()
        for name, value in result["metrics"].items():
            if not name.endswith(("_ci_low", "_ci_high")):
                low, high = result["metrics"][f"{name}_ci_low"], result["metrics"][f"{name}_ci_high"]
                console.print(f"{name:20} {value:.4f}  [95% CI {low:.4f}, {high:.4f}]")
        console.print(f"{result['n_queries']} queries scored; wrote {json_out}")
