"""`llmpilot data profile` and `llmpilot transform suggest|preview|apply|undo|history`: look at the
data, ask for a change in plain language, preview it, apply it as a new version, undo it. Thin: the
library does the work (llmpilot.profiling, llmpilot.transforms.agent / preview / versions)."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from llmpilot.cli_options import SetOpt
from llmpilot.errors import LlmpilotError
from llmpilot.project import Project

if TYPE_CHECKING:
    from llmpilot.config import TransformsConfig
    from llmpilot.profiling import DataProfile
    from llmpilot.protocols import Generator
    from llmpilot.transforms.agent import Suggestion
    from llmpilot.types import Document

data_app = typer.Typer(help="Look at the data: a profile of the documents.", no_args_is_help=True)
transform_app = typer.Typer(
    help="Shape the documents: suggest a plan (rules or the project's model), preview, apply, undo.",
    no_args_is_help=True,
)

out = Console()
err = Console(stderr=True)

ProjectOpt = Annotated[
    Path, typer.Option("--project", "-p", help="Project folder (holds llmpilot.yaml), or a config file.")
]
#: Documents the agent reads besides the profile (those holding boilerplate or PII first).
AGENT_SAMPLE = 5


def _write(path: Path, text: str, what: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    err.print(f"{what} written to {escape(str(path))}", highlight=False)


def _project_documents(proj: Project) -> list[Document]:
    from llmpilot.transforms.rederive import working_documents

    return [d for unit in working_documents(proj) for d in unit.documents]


def _path_documents(paths: list[Path]) -> list[Document]:
    """Files as `llmpilot ingest` would load them, normalized like the default transforms (the text
    plan steps see); unreadable paths are reported and the rest profiled."""
    from llmpilot.config import TransformsConfig
    from llmpilot.errors import SourceError
    from llmpilot.sources.files import discover_files
    from llmpilot.transforms import TransformPipeline

    found = discover_files(paths)
    for problem in found.errors:
        err.print(f"[yellow]skipped:[/] {escape(problem.source)}: {escape(problem.reason)}", highlight=False)
    pipeline = TransformPipeline(TransformsConfig())
    docs: list[Document] = []
    for unit in found.units:
        try:
            loaded = unit.load()
        except SourceError as exc:
            err.print(f"[yellow]skipped:[/] {escape(exc.source)}: {escape(exc.reason)}", highlight=False)
            continue
        docs.extend(pipeline.normalize(d) for d in loaded.documents)
    return docs


@data_app.command("profile")
def profile_command(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Files/folders to profile (instead of -p).")
    ] = None,
    project: Annotated[
        Path | None, typer.Option("--project", "-p", help="Profile this project's documents (as loaded).")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the profile as JSON here.")] = None,
    html_out: Annotated[
        Path | None, typer.Option("--html", help="Write an HTML page with charts here.")
    ] = None,
    overrides: SetOpt = None,
) -> None:
    """Documents per source and format, languages, lengths, empty docs, duplicates, PII by kind,
    repeated boilerplate (with counts and examples), encoding problems, table-like content."""
    from llmpilot.profiling import profile_documents, render_profile_html

    if not paths and project is None:
        raise LlmpilotError("nothing to profile: give files/folders, or -p PROJECT for its documents")
    docs: list[Document] = []
    if project is not None:
        docs.extend(_project_documents(Project.open(project, overrides or ())))
    if paths:
        docs.extend(_path_documents(paths))
    if not docs:
        raise LlmpilotError("no documents found to profile")
    profile = profile_documents(docs)
    _print_profile(profile)
    if json_out is not None:
        _write(json_out, json.dumps(profile.as_dict(), ensure_ascii=False, indent=2), "profile")
    if html_out is not None:
        _write(html_out, render_profile_html(profile), "HTML profile")


def _print_profile(profile: DataProfile) -> None:
    data = profile.as_dict()
    table = Table(title="data profile", show_header=False)
    table.add_row("documents", str(data["documents"]))
    table.add_row("formats", ", ".join(f"{k} {v}" for k, v in data["formats"].items()))
    table.add_row("languages", ", ".join(f"{k} {v}" for k, v in data["languages"].items()))
    lengths = data["lengths"]
    table.add_row("length (chars)", f"median {lengths['median']}, p90 {lengths['p90']}, max {lengths['max']}")
    table.add_row("empty / near-empty", f"{len(data['empty'])} / {len(data['near_empty'])}")
    dups = data["duplicates"]
    table.add_row("duplicates", f"exact {dups['exact']}, near {dups['near']}")
    table.add_row("PII hits", ", ".join(f"{k} {v}" for k, v in data["pii"].items()) or "none")
    enc = data["encoding"]
    table.add_row(
        "encoding problems",
        f"replacement chars {enc['replacement_chars']}, mojibake {enc['mojibake']}, "
        f"control chars {enc['control_chars']}",
    )
    table.add_row("table-like documents", str(data["tables"]["documents"]))
    out.print(table)
    if data["boilerplate"]:
        bp = Table(title="repeated boilerplate", show_lines=False)
        bp.add_column("docs", justify="right")
        bp.add_column("where")
        bp.add_column("text")
        for entry in data["boilerplate"][:10]:
            text = entry.get("pattern") or entry["text"]
            bp.add_row(
                str(entry["count"]), entry.get("position", ""), escape(text.replace("\n", " ⏎ ")[:100])
            )
        out.print(bp)


def _agent_sample(profile: DataProfile, docs: list[Document], n: int = AGENT_SAMPLE) -> list[Document]:
    """Documents that show what the profile found (boilerplate examples first), then the first ones."""
    by_id = {d.id: d for d in docs}
    chosen: dict[str, Document] = {}
    for entry in profile.as_dict()["boilerplate"]:
        for doc_id in entry.get("examples", []):
            if doc_id in by_id and len(chosen) < n:
                chosen.setdefault(doc_id, by_id[doc_id])
    for d in docs:
        if len(chosen) >= n:
            break
        chosen.setdefault(d.id, d)
    return list(chosen.values())


def _generator(proj: Project, rules: bool) -> tuple[Generator | None, str | None]:
    """The project's generator when it can decode to a JSON schema, else None with why."""
    if rules:
        return None, None
    from llmpilot import factory
    from llmpilot.generation.structured import supports_json

    gen = factory.generator(proj.config.generator)
    if not supports_json(gen):
        return None, f"generator {proj.config.generator.name!r} cannot write a plan; rules used"
    return gen, None


def _without_configured_redaction(suggestion: Suggestion, transforms: TransformsConfig) -> Suggestion:
    """Drop from redact_pii steps the kinds `transforms.pii` already redacts at ingest with the same
    replacement (the step would change nothing the user reads), saying so."""
    from llmpilot.transforms.plan import RedactPii

    steps = []
    notes = list(suggestion.notes)
    for step in suggestion.plan.steps:
        if isinstance(step, RedactPii) and step.replacement == transforms.pii_replacement:
            kept = [k for k in step.kinds if k not in transforms.pii]
            done = [k for k in step.kinds if k in transforms.pii]
            if done:
                notes.append(f"{', '.join(done)} already redacted at ingest (transforms.pii): not repeated")
            if not kept:
                continue
            step = step.model_copy(update={"kinds": kept})
        steps.append(step)
    plan = suggestion.plan.model_copy(update={"steps": steps})
    return replace(suggestion, plan=plan, notes=notes)


def _show_suggestion(suggestion: Suggestion) -> None:
    from llmpilot.transforms.plan import dump_plan

    err.print(f"method: {escape(suggestion.method)}", highlight=False)
    for note in suggestion.notes:
        err.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True, highlight=False)
    if not suggestion.plan.steps:
        err.print("[yellow]no steps suggested[/]")
    out.print(escape(dump_plan(suggestion.plan)), end="", highlight=False, soft_wrap=True)


@transform_app.command("suggest")
def suggest_command(
    request: Annotated[str | None, typer.Argument(help="What to change, in plain Korean or English.")] = None,
    project: ProjectOpt = Path("."),
    plan_out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the plan (YAML) here.")] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write plan + notes + profile summary as JSON.")
    ] = None,
    by: Annotated[
        str,
        typer.Option(
            help="Who writes the plan for a request: auto (the keyword rules when they understand "
            "it, else the project's model), rules, or model (the project's generator, decoding constrained "
            "to the plan schema)."
        ),
    ] = "auto",
    overrides: SetOpt = None,
) -> None:
    """Propose a transform plan: without a request, from what the profile found (repeated footers,
    PII, duplicates, empty documents…); with one, for what was asked (the project's generator writes a
    plan constrained to the plan's JSON schema; see --by).
    Every suggestion has passed the preview checks (no step that matches nothing or empties or guts a
    document)."""
    from llmpilot.profiling import profile_documents
    from llmpilot.transforms.agent import suggest_for_request, suggest_from_profile
    from llmpilot.transforms.plan import dump_plan

    proj = Project.open(project, overrides or ())
    docs = _project_documents(proj)
    if not docs:
        raise LlmpilotError(
            f"the project has no documents yet: run `llmpilot ingest -p {project} PATH…` first"
        )
    profile = profile_documents(docs)
    if request is None or not request.strip():
        suggestion = suggest_from_profile(profile)
    else:
        if by not in ("auto", "rules", "model"):
            raise LlmpilotError(f"--by {by!r}: use auto, rules or model")
        generator, why = _generator(proj, by == "rules")
        if why:
            err.print(f"[yellow]note:[/] {escape(why)}", highlight=False)
        suggestion = suggest_for_request(
            request, profile, _agent_sample(profile, docs), generator=generator, mode=by
        )
    suggestion = _without_configured_redaction(suggestion, proj.config.transforms)
    _show_suggestion(suggestion)
    if plan_out is not None:
        _write(plan_out, dump_plan(suggestion.plan), "plan")
    if json_out is not None:
        payload: dict[str, Any] = {
            "method": suggestion.method,
            "notes": suggestion.notes,
            "plan": suggestion.plan.model_dump(mode="json", exclude_none=True),
        }
        _write(json_out, json.dumps(payload, ensure_ascii=False, indent=2), "suggestion")
    if plan_out is None and suggestion.plan.steps:
        err.print(
            "save it with --out plan.yaml, then `llmpilot transform preview plan.yaml`", highlight=False
        )


@transform_app.command("preview")
def preview_command(
    plan_path: Annotated[Path, typer.Argument(metavar="PLAN", help="The plan file (YAML or JSON).")],
    project: ProjectOpt = Path("."),
    sample: Annotated[int, typer.Option(min=0, help="Documents to show before/after diffs for.")] = 5,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the preview as JSON here.")] = None,
    overrides: SetOpt = None,
) -> None:
    """Before/after diffs on a sample, counts of documents and characters touched, documents that would
    become empty. Nothing is written to the project."""
    from llmpilot.transforms.plan import load_plan
    from llmpilot.transforms.preview import preview_plan

    plan = load_plan(plan_path)
    proj = Project.open(project, overrides or ())
    report = preview_plan(proj, plan, sample=sample)
    _print_preview(report)
    if json_out is not None:
        _write(json_out, json.dumps(report.as_dict(), ensure_ascii=False, indent=2), "preview")


def _print_preview(report: Any) -> None:
    for change in report.samples:
        colour = "red" if change.status == "emptied" else "cyan"
        out.print(
            f"[{colour}]── {escape(change.id)} "
            f"({change.status}: {change.chars_before} → {change.chars_after} chars)[/]",
            highlight=False,
        )
        for line in change.diff:
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim"
            out.print(f"[{style}]{escape(line)}[/]", highlight=False, soft_wrap=True)
    table = Table(title="preview (nothing written)", show_header=False)
    table.add_row("documents", f"{report.documents_before} → {report.documents_after}")
    table.add_row(
        "changed / removed / added",
        f"{report.documents_changed} / {report.documents_removed} / {report.documents_added}",
    )
    table.add_row("characters", f"{report.chars_before} → {report.chars_after}")
    table.add_row("would become empty", str(len(report.emptied)))
    for s in report.step_stats:
        table.add_row(
            f"step {s['index']} {s['op']}",
            f"{s.get('documents_changed', 0)} changed, {s.get('documents_dropped', 0)} dropped, "
            f"{s.get('documents_added', 0)} added, {s.get('chars_removed', 0)} chars removed",
        )
    out.print(table)
    if report.emptied:
        err.print(
            f"[red]{len(report.emptied)} document(s) would become empty[/] (ingest skips them): "
            + escape(", ".join(report.emptied[:10])),
            soft_wrap=True,
            highlight=False,
        )


def _print_version(report: Any) -> None:
    table = Table(title=f"transform {report.action} (version {report.version})", show_header=False)
    table.add_row("steps", f"{report.steps_before} → {report.steps_after}")
    table.add_row("documents", f"{report.documents_before} → {report.documents_after}")
    table.add_row(
        "changed / added / removed",
        f"{report.documents_changed} / {report.documents_added} / {report.documents_removed}",
    )
    table.add_row("duplicates", f"{report.duplicates_before} → {report.duplicates_after}")
    table.add_row("characters", f"{report.chars_before} → {report.chars_after}")
    table.add_row("chunks", f"{report.chunks_before} → {report.chunks_after}")
    table.add_row("seconds", f"{report.seconds:.1f}")
    out.print(table)
    for problem in report.problems:
        err.print(f"[yellow]warning:[/] {escape(problem)}", soft_wrap=True, highlight=False)


@transform_app.command("apply")
def apply_command(
    plan_path: Annotated[Path, typer.Argument(metavar="PLAN", help="The plan file (YAML or JSON).")],
    project: ProjectOpt = Path("."),
    allow_empty: Annotated[
        bool, typer.Option(help="Apply even if the plan leaves documents without text.")
    ] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    overrides: SetOpt = None,
) -> None:
    """Append the plan to the project's transforms as a new version (llmpilot.yaml rewritten, the
    previous file kept as llmpilot.yaml.bak) and re-derive documents, chunks and indexes from the
    originals the store keeps. Source files are never read or modified. `transform undo` reverts."""
    from llmpilot.transforms.plan import load_plan
    from llmpilot.transforms.preview import preview_plan
    from llmpilot.transforms.versions import apply_plan

    plan = load_plan(plan_path)
    proj = Project.open(project, overrides or ())
    check = preview_plan(proj, plan, sample=0)
    if check.emptied and not allow_empty:
        raise LlmpilotError(
            f"{len(check.emptied)} document(s) would become empty ({', '.join(check.emptied[:3])}…); "
            f"see `llmpilot transform preview {plan_path}`, fix the plan, or pass --allow-empty"
        )
    proj, report = apply_plan(proj, plan, progress=progress)
    _print_version(report)
    err.print(f"undo with: llmpilot transform undo -p {project}", highlight=False)
    proj.close()


@transform_app.command("undo")
def undo_command(
    project: ProjectOpt = Path("."),
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    overrides: SetOpt = None,
) -> None:
    """Restore the transforms before the newest applied plan and re-derive the store from the kept
    originals: documents and chunks end as they were before that plan."""
    from llmpilot.transforms.versions import undo

    proj = Project.open(project, overrides or ())
    proj, report = undo(proj, progress=progress)
    _print_version(report)
    proj.close()


@transform_app.command("history")
def history_command(
    project: ProjectOpt = Path("."),
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    overrides: SetOpt = None,
) -> None:
    """The transform plans applied to the project, oldest first (undone ones marked)."""
    from llmpilot.transforms.versions import history

    proj = Project.open(project, overrides or ())
    rows = history(proj.store)
    if json_out:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
        return
    table = Table(title="transform versions")
    for col in ("version", "applied", "steps", "changed", "undone"):
        table.add_column(col, no_wrap=True)
    table.add_column("request", ratio=1)
    for r in rows:
        table.add_row(
            str(r["version"]),
            (r["created_at"] or "")[:16].replace("T", " "),
            str(r["steps"]),
            str(r["report"].get("documents_changed", "")),
            (r["undone_at"] or "")[:16].replace("T", " "),
            escape(r["request"] or ""),
        )
    out.print(table)
