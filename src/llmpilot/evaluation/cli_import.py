"""`llmpilot eval import`: convert an eval set into a dataset folder and print what was imported.
Thin: parses, calls `import_dataset`, prints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmpilot.errors import LlmpilotError


def register(app: typer.Typer) -> None:
    """Add the `import` command to `app` (mounted as `llmpilot eval import`)."""

    @app.command("import")
    def import_command(
        src: Annotated[
            Path,
            typer.Argument(
                help="Dataset folder (llmpilot, BEIR or AutoRAG), AutoRAG qa .parquet, or .csv/.tsv/.xlsx."
            ),
        ],
        out: Annotated[Path, typer.Option("--out", help="Folder to write corpus/queries/qrels.jsonl into.")],
        fmt: Annotated[
            str | None,
            typer.Option("--format", help="llmpilot | beir | autorag | csv | xlsx (detected when omitted)."),
        ] = None,
        split: Annotated[
            str | None, typer.Option(help="BEIR qrels split: qrels/<split>.tsv (default: test).")
        ] = None,
        corpus: Annotated[
            Path | None,
            typer.Option(
                help="Documents for a CSV/XLSX doc_id or context column: a folder of files, a corpus.jsonl "
                "or corpus.parquet (for AutoRAG: the corpus beside a qa file)."
            ),
        ] = None,
        skip_invalid: Annotated[
            bool, typer.Option("--skip-invalid", help="Leave bad rows out (listed) instead of failing.")
        ] = False,
    ) -> None:
        """Import an eval set (question/answer sheets, BEIR, AutoRAG, llmpilot folders); every bad row is
        reported with its file and line."""
        from rich.console import Console
        from rich.table import Table

        from llmpilot.evaluation.importers import DatasetImportError, import_dataset

        console = Console()
        errors = Console(stderr=True)
        try:
            report = import_dataset(src, out, fmt=fmt, split=split, corpus=corpus, skip_invalid=skip_invalid)
        except DatasetImportError as exc:
            for problem in exc.problems:
                errors.print(str(problem), markup=False, highlight=False, soft_wrap=True)
            advice = (
                ""
                if exc.fatal or skip_invalid
                else "; fix them, or re-run with --skip-invalid to leave those rows out"
            )
            raise LlmpilotError(
                f"{src}: import failed with {len(exc.problems)} problem(s) (listed above); "
                f"nothing was written{advice}"
            ) from None

        table = Table(title=f"imported {src} ({report.format}) -> {out}")
        for column in ("documents", "queries", "judged queries", "qrels", "qrels with spans", "problems"):
            table.add_column(column, justify="right")
        table.add_row(
            *map(
                str,
                (
                    report.documents,
                    report.queries,
                    report.judged_queries,
                    report.qrels,
                    report.qrels_with_spans,
                    len(report.skipped),
                ),
            )
        )
        console.print(table)
        for problem in report.skipped:
            console.print(f"skipped {problem}", markup=False, highlight=False, soft_wrap=True)
        for warning in report.warnings:
            console.print(f"warning {warning}", markup=False, highlight=False, soft_wrap=True)
        for note in report.notes:
            console.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
        for file, encoding in report.encodings.items():
            if encoding != "utf-8":
                console.print(
                    f"note: {file} was read as {encoding}", markup=False, highlight=False, soft_wrap=True
                )
        if report.qa_only:
            console.print(
                "QA-only dataset: no qrels, so retrieval metrics do not apply; generation metrics do.",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
