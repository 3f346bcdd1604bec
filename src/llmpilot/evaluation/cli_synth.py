"""`llmpilot eval synth`: draft a synthetic eval set from documents with a configured generator."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmpilot.cli_options import SetOpt


def register(app: typer.Typer) -> None:
    @app.command("synth")
    def synth(
        sources: Annotated[
            list[Path], typer.Argument(help="Files/folders, or a dataset folder with corpus.jsonl.")
        ],
        out: Annotated[Path, typer.Option(help="Dataset folder to write (corpus, queries, qrels).")],
        config: Annotated[
            Path | None, typer.Option(help="Pipeline config: its generator and chunking.")
        ] = None,
        overrides: SetOpt = None,
        n: Annotated[int, typer.Option(help="How many questions to draft (one per sampled document).")] = 20,
        seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
    ) -> None:
        """Draft question/answer pairs from documents, marked synthetic, passage spans as ground truth."""
        from rich.console import Console

        from llmpilot import factory
        from llmpilot.config import load_config, parse_config
        from llmpilot.evaluation.datasets import load_dataset
        from llmpilot.evaluation.synth import synthesize
        from llmpilot.project import resolve_generator_paths
        from llmpilot.sources.files import discover_files
        from llmpilot.transforms import TransformPipeline

        sets = overrides or ()
        cfg = load_config(config, sets) if config else parse_config({}, "the default config", sets)
        if len(sources) == 1 and (sources[0] / "corpus.jsonl").exists():
            docs = load_dataset(sources[0], include_unjudged=True).corpus
        else:
            found = discover_files(sources)
            transforms = TransformPipeline(cfg.transforms)
            docs = [d for u in found.units for d in transforms.apply_unit(u.load().documents)]
        # Model paths in a config file are relative to its folder, as in a project.
        base = config.parent if config else Path()
        generator = factory.generator(resolve_generator_paths(cfg.generator, base))
        report = synthesize(docs, cfg, generator, out, n=n, seed=seed)
        console = Console()
        console.print(f"wrote {report.written} synthetic questions to {out} ({len(report.skipped)} skipped)")
        for skip in report.skipped:
            console.print(f"skipped {skip['doc_id']}: {skip['reason']}", markup=False)
