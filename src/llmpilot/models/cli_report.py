"""`llmpilot models report`: read bench results, pairwise results and the project's eval results, print
the ranking and the recommendation, write report.html and report.json. No logic beyond reading the
options; the library is llmpilot.models.report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from llmpilot.errors import LlmpilotError
from llmpilot.models.report import LATENCY_WEIGHT, ModelReport, build_report, write_report
from llmpilot.models.report_inputs import load_bench, load_embedders, load_pairwise
from llmpilot.models.report_task import load_task_metrics

console = Console()

#: One string per paragraph (rich keeps a docstring's hard line breaks). Set as the command's docstring.
REPORT_HELP = "\n\n".join(
    [
        "One report to choose a model: general benchmarks (--bench), pairwise win rates (--pairwise) and "
        "your own eval results (-p) with latency in one ranking, the HELM-style holistic table, a "
        "quality-vs-latency Pareto plot and a recommendation that states the trade-off.",
        "-p takes a project folder (every results.json of `llmpilot eval --out` / `llmpilot optimize --out` "
        "under it), one such --out folder, or a results.json. The extractive answerer is the floor: a "
        "generator that does not beat it significantly on your eval set (paired bootstrap, p < 0.05) is "
        "not recommended. Without eval results the recommendation rests on the general benchmarks only.",
        "Writes OUT/report.html and OUT/report.json; --json writes the same JSON elsewhere too.",
    ]
)


def _cell(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def print_report(report: ModelReport) -> None:
    """The ranking table (eval-set columns only when there are eval results), then the recommendation."""
    on_task = report.task is not None
    table = Table(title="Ranking (mean win rate; higher is better)")
    columns = ["#", "model", "score", *(["eval set", "vs floor"] if on_task else []), "benchmarks"]
    for column in [*columns, "latency ms", "Pareto", "status"]:
        table.add_column(column, justify="left" if column in ("model", "status") else "right")
    for r in report.ranking:
        floor = "-" if r.floor is None else f"{r.floor.mean_diff:+.3f} (p={r.floor.p_value:.3f})"
        table.add_row(
            str(r.rank),
            escape(r.name),
            f"{r.score:.3f}",
            *([_cell(r.task), floor] if on_task else []),
            _cell(r.benchmark_accuracy),
            _cell(r.latency_ms, ",.1f"),
            "yes" if r.pareto else "",
            r.status,
        )
    console.print(table)
    rec = report.recommendation
    console.print(f"[bold]Recommendation: {escape(rec.model or 'none')}[/]")
    console.print(escape(rec.summary), soft_wrap=True)
    for line in rec.tradeoffs:
        console.print(f" • {escape(line)}", soft_wrap=True)
    for line in rec.not_recommended:
        console.print(f" ✗ {escape(line)}", soft_wrap=True)
    for note in report.notes:
        console.print(f"[dim]{escape(note)}[/]", soft_wrap=True)


def report_command(
    bench: Annotated[
        list[Path] | None,
        typer.Option(
            "--bench",
            metavar="FILE",
            help="JSON of `llmpilot models bench --json` (repeat for each benchmark).",
        ),
    ] = None,
    pairwise: Annotated[
        list[Path] | None,
        typer.Option("--pairwise", metavar="FILE", help="Pairwise win-rate JSON (repeatable)."),
    ] = None,
    project: Annotated[
        Path | None,
        typer.Option(
            "-p",
            "--project",
            metavar="PATH",
            help="Project folder, eval/optimize --out folder, or results.json.",
        ),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", metavar="DIR", help="Folder for report.html and report.json.")
    ] = Path("model-report"),
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the report's JSON here.")
    ] = None,
    embedders: Annotated[
        list[Path] | None,
        typer.Option(
            "--embedders", metavar="FILE", help="JSON of `llmpilot models bench --embedders` (repeatable)."
        ),
    ] = None,
    latency_weight: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of the ranking score that latency gets.")
    ] = LATENCY_WEIGHT,
) -> None:
    """Rank models on benchmarks, your eval set and latency; recommend one (help: REPORT_HELP)."""
    if not bench and not pairwise and not embedders and project is None:
        raise LlmpilotError(
            "llmpilot models report needs results: --bench FILE (from `llmpilot models bench --json`), "
            "--pairwise FILE, and/or -p PROJECT (eval/optimize results)"
        )
    benches = [load_bench(path) for path in bench or []]
    pairs = [load_pairwise(path) for path in pairwise or []]
    task = load_task_metrics(project) if project is not None else None
    embedder_results = [load_embedders(path) for path in embedders or []]
    report = build_report(benches, pairs, task, latency_weight=latency_weight, embedders=embedder_results)
    if project is not None and task is None:
        report.notes.append(f"{project}: no eval results with answer metrics found")
    print_report(report)
    page = write_report(report, out)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(
            json.dumps(report.as_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
    console.print(f"wrote {page} and {out / 'report.json'}" + (f" and {json_out}" if json_out else ""))


report_command.__doc__ = REPORT_HELP
