"""The `llmpilot` command line: parses arguments, calls the library, prints. No logic lives here."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from llmpilot.cli_options import SetOpt
from llmpilot.cli_safety import cache_app, guard_app
from llmpilot.errors import LlmpilotError, SourceError
from llmpilot.evaluation.cli import eval_app
from llmpilot.finetune.cli import adapters_app, finetune_command
from llmpilot.finetune.cli_advise import advise_command
from llmpilot.finetune.cli_embedder import finetune_embedder_command
from llmpilot.finetune.cli_strategies import strategies_command
from llmpilot.models.cli import models_app
from llmpilot.monitoring.cli import deploy_app, monitor_app, review_app
from llmpilot.monitoring.cli_loop import sync_command
from llmpilot.project import Project
from llmpilot.store.cli_db import db_app
from llmpilot.transforms.cli import data_app, transform_app

if TYPE_CHECKING:
    from llmpilot.optimization.results import StudyResult

app = typer.Typer(
    help="llmpilot: build LLM services the measured way (ingest, retrieve, answer with citations, bench).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
bench_app = typer.Typer(help="Benchmarks that write JSON results.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
app.add_typer(eval_app, name="eval")
app.add_typer(cache_app, name="cache")
app.add_typer(guard_app, name="guard")
app.add_typer(adapters_app, name="adapters")
app.add_typer(models_app, name="models")
app.add_typer(monitor_app, name="monitor")
app.add_typer(review_app, name="review")
app.add_typer(deploy_app, name="deploy")
app.add_typer(db_app, name="db")
app.add_typer(data_app, name="data")
app.add_typer(transform_app, name="transform")
app.command("sync")(sync_command)
app.command("finetune")(finetune_command)
app.command("finetune-embedder")(finetune_embedder_command)
app.command("advise")(advise_command)
app.command("strategies")(strategies_command)

out = Console()
err = Console(stderr=True)


class _Settings:
    #: --debug: let unexpected exceptions show their traceback instead of one line.
    debug = False


@app.callback()
def _options(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", envvar="LLMPILOT_DEBUG", help="Show the full traceback when a command fails."
        ),
    ] = False,
) -> None:
    _Settings.debug = debug


ProjectOpt = Annotated[
    Path,
    typer.Option(
        "--project", "-p", help="Project folder (holds llmpilot.yaml), or a config file inside one."
    ),
]


def _open(project: Path, config: Path | None = None, overrides: list[str] | None = None) -> Project:
    return Project.open(config if config is not None else project, overrides or ())


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create the project in.")],
    force: Annotated[bool, typer.Option(help="Overwrite an existing llmpilot.yaml.")] = False,
    generator: Annotated[
        str | None,
        typer.Option(help="generator.name to start with (default llama-cpp; `extractive` needs no model)."),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(help="The store's database URL (e.g. `llmpilot db up`'s) instead of llmpilot.db here."),
    ] = None,
) -> None:
    """Create a project folder with a commented llmpilot.yaml and an empty store (SQLite by default)."""

    project = Project.init(directory, force=force, generator=generator, store=store)
    out.print(f"created {project.config_path} and the store at {project.store_url}")
    out.print(f"next: llmpilot ingest -p {directory} PATH…")


@app.command()
def ingest(
    paths: Annotated[
        list[Path] | None,
        # readable=False: click would reject an unreadable path and abort the whole run; discovery
        # reports it by name instead, keeps its stored documents and ingests the rest.
        typer.Argument(help="Files and folders to ingest.", readable=False),
    ] = None,
    project: ProjectOpt = Path("."),
    sql: Annotated[str | None, typer.Option(help="SQLAlchemy URL of a database to ingest rows from.")] = None,
    query: Annotated[
        str | None, typer.Option(help="SELECT returning one document per row (with --sql).")
    ] = None,
    text_column: Annotated[str, typer.Option(help="Column holding the document text (with --sql).")] = "text",
    id_column: Annotated[str, typer.Option(help="Column holding a stable row id (with --sql).")] = "id",
    title_column: Annotated[str | None, typer.Option(help="Optional title column (with --sql).")] = None,
    ask: Annotated[
        str | None,
        typer.Option(
            help="With --sql instead of --query: describe the rows in plain words; a read-only SELECT is "
            "drafted from the schema, shown with a preview of its rows, and run after you confirm."
        ),
    ] = None,
    ask_with: Annotated[
        str,
        typer.Option(
            help="With --ask: rules (bilingual keyword matching on the schema) or model "
            "(the project's generator)."
        ),
    ] = "rules",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="With --ask: ingest without asking.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    config: Annotated[Path | None, typer.Option(help="Config file (its folder is the project).")] = None,
    overrides: SetOpt = None,
    ray_workers: Annotated[
        int | None,
        typer.Option(help="Load, chunk and embed on a local Ray cluster of N worker processes."),
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(help="Load, chunk and embed on an existing Ray cluster (`auto`, host:port, ray://…)."),
    ] = None,
) -> None:
    """Ingest files/folders (.txt .md .html .pdf .docx .csv .jsonl) and SQL rows, incrementally.

    Unchanged sources are skipped, changed ones re-processed, deleted ones removed; an
    interrupted run resumes where it stopped. A file or folder that cannot be read is reported
    and skipped, and the documents stored from it are kept. Exits 1, after ingesting the rest,
    when any source could not be ingested. With --ray-workers/--ray-address the heavy work runs
    on Ray workers; this process alone writes the store, which ends as an in-process ingest's.
    """
    from contextlib import ExitStack

    from llmpilot.ingest import Executor, Ingestor
    from llmpilot.pipeline import Pipeline
    from llmpilot.sources.files import discover_files
    from llmpilot.sources.sql import sql_unit

    if not paths and not sql:
        raise LlmpilotError("nothing to ingest: give file/folder paths and/or --sql URL --query 'SELECT …'")
    if ask is not None and (not sql or query):
        raise LlmpilotError(
            "--ask goes with --sql URL and instead of --query: --sql URL --ask 'active FAQ entries'"
        )
    if sql and not query and ask is None:
        raise LlmpilotError("--sql needs --query 'SELECT …' returning one document per row (or --ask '…')")
    use_ray = ray_workers is not None or ray_address is not None
    if use_ray:
        from llmpilot.ingest_ray import check_options

        check_options(ray_workers, ray_address)
    proj = _open(project, config, overrides)
    if sql and ask is not None:
        from llmpilot.sources.cli_ask import draft_and_confirm

        if ask_with not in ("rules", "model"):
            raise LlmpilotError(f"--ask-with {ask_with!r}: use rules or model")
        drafted = draft_and_confirm(proj, sql, ask, use_model=ask_with == "model", yes=yes, out=out, err=err)
        if drafted is None:
            raise typer.Exit(1)
        query, text_column, id_column, title_column = drafted
    discovery = discover_files(paths or [])
    units = list(discovery.units)
    origins = list(discovery.origins)
    errors = list(discovery.errors)
    sql_ingested = False
    if sql and query:
        try:
            unit = sql_unit(
                sql, query, text_column=text_column, id_column=id_column, title_column=title_column
            )
        except SourceError as exc:  # a bad --sql fails that source only: the files still ingest
            errors.append(exc)
        else:
            units.append(unit)
            origins.append(unit.origin)
            sql_ingested = True
    with ExitStack() as stack:
        executor: Executor | None = None
        if use_ray:
            from llmpilot.ingest_ray import RayExecutor

            executor = stack.enter_context(RayExecutor(proj.config, workers=ray_workers, address=ray_address))
        report = Ingestor(proj, progress=progress, executor=executor).run(
            units, origins=origins, errors=errors, skipped=discovery.skipped
        )
    # What was ingested is watched: `llmpilot sync` re-reads all of it.
    from llmpilot.monitoring.sync import watch_files, watch_sql

    watch_files(proj.store, [Path(p) for p in discovery.origins])
    if sql_ingested and sql and query:
        watch_sql(
            proj.store, sql, query, text_column=text_column, id_column=id_column, title_column=title_column
        )
    # Build/refresh the persisted indexes now, not at first query; under the writer lock, so two
    # ingests finishing together do not build into the same temporary index folder.
    with proj.store.writer_lock("index build"):
        _ = Pipeline(proj, progress=progress).indexes
    table = Table(title="ingest", show_header=False)
    for key in (
        "units_seen",
        "units_unchanged",
        "units_loaded",
        "units_failed",
        "units_removed",
        "units_kept",
        "documents_written",
        "documents_removed",
        "duplicates",
        "chunks_written",
        "passages_embedded",
        "embedding_cache_hits",
    ):
        table.add_row(key.replace("_", " "), str(getattr(report, key)))
    table.add_row("seconds", f"{report.seconds:.1f}")
    out.print(table)
    for skipped in report.skipped:
        err.print(
            f"[yellow]skipped (unsupported type):[/] {escape(skipped)}", soft_wrap=True, highlight=False
        )
    for warning in report.warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True, highlight=False)
    for failure in report.failed:
        err.print(f"[red]failed:[/] {escape(failure)}", soft_wrap=True, highlight=False)
    if report.failed:
        err.print(
            f"[red]{len(report.failed)} source(s) could not be ingested[/] (listed above); "
            "everything else was ingested",
            soft_wrap=True,
            highlight=False,
        )
        raise typer.Exit(1)


@app.command()
def index(
    project: ProjectOpt = Path("."),
    overrides: SetOpt = None,
    rebuild: Annotated[bool, typer.Option(help="Rebuild even if the saved indexes are current.")] = False,
) -> None:
    """Build (or check) the keyword and vector indexes of the project's current chunk set."""
    from llmpilot import factory
    from llmpilot.indexing import open_indexes
    from llmpilot.ingest import needs_embeddings

    proj = _open(project, overrides=overrides)
    need_vector = needs_embeddings(proj.config)
    indexes = open_indexes(
        proj,
        need_vector=need_vector,
        embedder=factory.embedder(proj.config.embedder) if need_vector else None,
        rebuild=rebuild,
        progress=True,
    )
    state = "loaded (current)" if indexes.loaded else "built"
    out.print(f"{len(indexes.chunks)} chunks; indexes {state} in {indexes.build_seconds:.2f}s")


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="The search query.")],
    project: ProjectOpt = Path("."),
    config: Annotated[Path | None, typer.Option(help="Config file (its folder is the project).")] = None,
    overrides: SetOpt = None,
    k: Annotated[int | None, typer.Option("--k", "-k", min=1, help="How many chunks to return.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Print the ranked chunks for a query, with fused and per-retriever scores."""
    from llmpilot.pipeline import Pipeline

    hits = Pipeline(_open(project, config, overrides)).search(query, k)
    if as_json:
        rows = [
            {
                "rank": h.rank,
                "score": h.score,
                "scores": h.scores,
                "doc_id": h.chunk.doc_id,
                "chunk_id": h.chunk.id,
                "title": h.title,
                "start": h.chunk.start,
                "end": h.chunk.end,
                "text": h.chunk.text,
            }
            for h in hits
        ]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"search: {escape(query)}")
    for col in ("#", "score", "keyword", "dense", "document", "snippet"):
        table.add_column(col)
    for h in hits:
        table.add_row(
            str(h.rank),
            f"{h.score:.3f}",
            _fmt(h.scores.get("keyword")),
            _fmt(h.scores.get("dense")),
            escape(f"{h.chunk.doc_id} [{h.chunk.start}:{h.chunk.end}]"),
            _focused(h.chunk.text, query),
        )
    out.print(table)


def _focused(text: str, query: str) -> Text:
    """The part of a chunk that matches the query, its matched terms bold and underlined.

    Built as a rich Text, not markup: the chunk's "[1]" or "[bold]" stays text, and no escaping
    quirk (a trailing backslash before a tag) can show up in the output."""
    from llmpilot.snippets import focus_snippet

    found = focus_snippet(text, query, width=160)
    cell = Text()
    at = 0
    for start, end in [*found.highlights, (len(found.text), len(found.text))]:
        # One line per cell: newlines and runs of spaces become one space.
        cell.append(re.sub(r"\s+", " ", found.text[at:start]))
        cell.append(found.text[start:end], style="bold underline")
        at = end
    return cell


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    project: ProjectOpt = Path("."),
    config: Annotated[Path | None, typer.Option(help="Config file (its folder is the project).")] = None,
    overrides: SetOpt = None,
    k: Annotated[int | None, typer.Option("--k", "-k", min=1, help="How many chunks to retrieve.")] = None,
    stream: Annotated[bool, typer.Option(help="Stream the answer as it is generated.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")] = False,
) -> None:
    """Answer a question from the ingested documents, with verified citations — the same answer
    policy as the server (abstains on weak support, drops unverifiable citations, flags figures
    no source contains)."""
    from llmpilot.answering import Responder, answer_dict
    from llmpilot.pipeline import Pipeline

    run = Responder(Pipeline(_open(project, config, overrides))).start(question, k=k)
    if stream and not as_json and run.generating:
        for delta in run:
            out.print(delta, end="", markup=False, highlight=False)
            sys.stdout.flush()
        out.print()
    answer = run.finish()
    if as_json:
        print(json.dumps(answer_dict(answer), ensure_ascii=False, indent=2))
        return
    streamed_now = stream and run.generating  # a cached or refused answer was not streamed
    if answer.abstained or not (streamed_now and answer.generated):
        out.print(answer.text, markup=False, highlight=False)
    elif answer.text != run.streamed_text:
        # Verification changed what was streamed (unverifiable [n] markers removed).
        out.print("\n[dim]As verified:[/]")
        out.print(answer.text, markup=False, highlight=False)
    if answer.blocked:
        rail = next((d for d in answer.decisions if d["outcome"] in ("block", "abstain")), {})
        why = "" if answer.reason == answer.text else f" {escape(answer.reason)}"
        out.print(f"[yellow]Refused by a guardrail ({escape(str(rail.get('name', '?')))}).[/]{why}")
    elif answer.abstained:
        out.print(f"[yellow]Abstained:[/] {escape(answer.reason)}")
    if answer.cached:
        hit = next((d for d in answer.decisions if d["stage"] == "cache" and d["outcome"] == "hit"), {})
        out.print(f"[dim]From the answer cache ({answer.cached}: {escape(str(hit.get('reason', '')))})[/]")
    for rail in answer.decisions:
        if rail["stage"] != "cache" and rail["outcome"] in ("redact", "warn"):
            out.print(f"[yellow]Guardrail {escape(str(rail['name']))}:[/] {escape(str(rail['reason']))}")
    streamed = streamed_now and answer.generated
    if answer.unsupported_text and not streamed:
        out.print("[yellow]Generated, but not supported by the sources (not shown as the answer):[/]")
        out.print(answer.unsupported_text, markup=False, highlight=False)
    for sentence in answer.unsupported_sentences if not answer.unsupported_text else ():
        out.print(f"[yellow]Not supported by its source:[/] {escape(sentence)}")
    if answer.unsupported_numbers:
        listed = ", ".join(answer.unsupported_numbers)
        out.print(f"[yellow]Not in any source:[/] {escape(listed)} (confidence lowered)")
    if answer.blocked:
        return  # refused before retrieval (or withheld): no sources to list
    cited = {c.n for c in answer.citations}
    attributed = any(c.attributed for c in answer.citations)
    legend = "* = cited" + (", by overlap after the fact" if attributed else " in the answer")
    out.print(f"\n[bold]Sources[/] (confidence {answer.confidence:.2f}; {legend})")
    for source in answer.sources:
        mark = "*" if source.n in cited else " "
        title = f" {source.title} —" if source.title else ""
        where = f"{source.doc_id} [{source.start}:{source.end}]"
        shown = " ".join(source.snippet.split())
        out.print(f"{mark}[{source.n}]{title} {where} {shown}", markup=False, highlight=False)
    if answer.followups:
        out.print("\n[bold]Follow-ups[/]")
        for followup in answer.followups:
            out.print(f"  - {followup}", markup=False, highlight=False)


@app.command()
def status(project: ProjectOpt = Path("."), overrides: SetOpt = None) -> None:
    """Show what the project's store holds and the last runs."""
    proj = _open(project, overrides=overrides)
    counts = proj.store.counts()
    chunks, _ = proj.store.chunks(proj.config.chunks_hash())
    out.print(f"project {proj.root}\nstore {proj.store_url}")
    out.print(
        f"sources {counts['sources']}, documents {counts['documents']}, chunks (current chunking) "
        f"{len(chunks)}, cached embeddings {counts['embeddings']}"
    )
    for run in proj.store.runs()[-5:]:
        out.print(f"run {run['id']} {run['kind']} {run['status']} {run['started_at']:%Y-%m-%d %H:%M:%S}")


@bench_app.command("retrieval")
def bench_retrieval(
    dataset: Annotated[Path, typer.Option(help="Dataset folder: corpus.jsonl, queries.jsonl, qrels.jsonl.")],
    config: Annotated[Path, typer.Option(help="Pipeline config YAML (e.g. examples/hybrid-ko.yaml).")],
    overrides: SetOpt = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result JSON here.")] = None,
    workdir: Annotated[Path, typer.Option(help="Work folder (kept: its embedding cache is reused).")] = Path(
        ".llmpilot-bench"
    ),
    max_queries: Annotated[int | None, typer.Option(help="Use only the first N queries.")] = None,
    mode: Annotated[
        str | None, typer.Option(help="Override retrieval.mode: keyword | dense | hybrid.")
    ] = None,
) -> None:
    """Run retrieval over a dataset and report nDCG@10, recall@10/100, MRR@10 and timings."""
    from llmpilot.bench.retrieval import run_retrieval_benchmark
    from llmpilot.config import load_config

    cfg = load_config(config, overrides or ())
    if mode:
        cfg = cfg.model_copy(update={"retrieval": cfg.retrieval.model_copy(update={"mode": mode})})
        cfg = type(cfg).model_validate(cfg.model_dump())
    result = run_retrieval_benchmark(dataset, cfg, workdir=workdir, max_queries=max_queries, progress=True)
    result["config_file"] = str(config)
    text = json.dumps(result, ensure_ascii=False, indent=2)
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(text + "\n", encoding="utf-8")
    m = result["metrics"]
    out.print(
        f"{result['dataset']} {result['mode']}: nDCG@10 {m['ndcg@10']:.4f}  recall@10 {m['recall@10']:.4f}  "
        f"recall@100 {m['recall@100']:.4f}  MRR@10 {m['mrr@10']:.4f}  ({result['queries']} queries, "
        f"{result['docs']} docs, index {result['index_seconds']:.1f}s, "
        f"queries {result['query_seconds']:.2f}s)"
    )


@app.command()
def optimize(
    dataset: Annotated[Path, typer.Option(help="Dataset folder: corpus.jsonl, queries.jsonl, qrels.jsonl.")],
    space: Annotated[
        Path, typer.Option(help="Search space YAML: the pipeline config with lists where values vary.")
    ],
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder for best.yaml, results.json and report.html.")
    ],
    strategy: Annotated[str, typer.Option(help="grid | random | halving | greedy")] = "halving",
    metric: Annotated[
        str,
        typer.Option(
            help="Primary metric: ndcg@10 | recall@10 | recall@100 | mrr@10 | map@10 | hit_rate@10, or an "
            "answer metric (rougeL, chrf, bleu, meteor, bertscore_f1, moverscore, rouge1, rouge2)."
        ),
    ] = "ndcg@10",
    answer_metrics: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated answer metrics to score per trial (generates an answer per query). "
            "Default: none, or rougeL,chrf,bertscore_f1 when the space varies generator.* or prompt.*."
        ),
    ] = None,
    max_queries: Annotated[
        int | None, typer.Option(help="Use a fixed random sample of this many queries (generation is slow).")
    ] = None,
    budget: Annotated[int | None, typer.Option(help="random: how many configs to try.")] = None,
    eta: Annotated[int, typer.Option(help="halving: keep 1/eta per rung, grow queries eta-fold.")] = 3,
    min_queries: Annotated[int, typer.Option(help="halving: queries in the first rung.")] = 12,
    sample_corpus: Annotated[
        bool,
        typer.Option(
            help="halving: early rungs index only the relevant documents plus a share of the rest, "
            "so (chunking, embedder) pairs eliminated early are never embedded in full."
        ),
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed for query order and random sampling.")] = 0,
    workers: Annotated[
        int | None, typer.Option(help="Run trials on a local Ray cluster with N workers.")
    ] = None,
    ray_address: Annotated[str | None, typer.Option(help="Run trials on an existing Ray cluster.")] = None,
    workdir: Annotated[
        Path, typer.Option(help="Work folder: artifact cache shared by all trials and runs.")
    ] = Path(".llmpilot-bench"),
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    resume: Annotated[
        bool, typer.Option(help="Reuse this study's saved trials (--no-resume starts over).")
    ] = True,
) -> None:
    """Search the space on the dataset, pick the best config with evidence, write best.yaml,
    results.json and report.html. A killed run resumes where it stopped when started again."""
    from llmpilot.optimization.distributed import runner_factory
    from llmpilot.optimization.run import optimize as run_optimize
    from llmpilot.optimization.settings import SearchSettings
    from llmpilot.options import split_names

    settings = SearchSettings(
        strategy=strategy,
        primary_metric=metric,
        budget=budget,
        eta=eta,
        min_queries=min_queries,
        seed=seed,
        answer_metrics=split_names(answer_metrics),
        max_queries=max_queries,
        sample_corpus=sample_corpus,
    )
    result = run_optimize(
        dataset,
        space,
        out_dir,
        settings,
        workdir=workdir,
        runner_factory=runner_factory(workers, ray_address),
        progress=progress,
        resume=resume,
    )
    _optimize_summary(result.results)
    written = [result.best_yaml, result.results_json, result.report_html]
    out.print("wrote " + ", ".join(str(p) for p in written))


def _optimize_summary(study: StudyResult) -> None:
    metric = study.primary_metric
    best = study.best_trial()
    m = best.metrics[metric]
    out.print(f"best {metric} {m.mean:.4f} [{m.ci_low:.4f}, {m.ci_high:.4f}] with {best.params}")
    sig = study.significance
    if sig:
        verdict = "significantly" if sig.significant else "not significantly"
        out.print(f"{verdict} better than the runner-up (p={sig.p_value:.3f}, diff {sig.mean_diff:+.4f})")
    cheap = study.cheapest_not_worse
    if cheap and cheap.trial_id != best.trial_id:
        out.print(
            f"cheapest config not significantly worse: {cheap.trial_id} ({cheap.latency_ms_p50:.1f} ms p50)"
        )
    c = study.compute
    generated = f", {c.answers_generated} answers generated" if c.answers_generated else ""
    out.print(
        f"{c.trials_evaluated} trial evaluations, {c.query_evaluations} query evaluations, "
        f"{c.passages_embedded} passages and {c.queries_embedded} queries embedded{generated}, "
        f"{study.seconds:.1f}s"
    )


keys_app = typer.Typer(
    help="API keys of `llmpilot serve` (stored hashed in the project's store).", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="Tenant the key belongs to (it sees only its collections).")],
    role: Annotated[
        str, typer.Option(help="user | admin (admins see the tenant's traces and feedback).")
    ] = "user",
    name: Annotated[str, typer.Option(help="A label for the key (default TENANT-ROLE).")] = "",
    project: ProjectOpt = Path("."),
    overrides: SetOpt = None,
) -> None:
    """Create a key and print it once: only its sha256 is stored."""
    from llmpilot.store.serving import ServingStore

    record, key = ServingStore(_open(project, overrides=overrides).store).create_key(tenant, role, name)
    err.print(
        f"key {record.id} ({record.name}) for tenant {record.tenant!r}, role {record.role}; shown only once:"
    )
    print(key)


@keys_app.command("list")
def keys_list(project: ProjectOpt = Path("."), overrides: SetOpt = None) -> None:
    """List keys (id, tenant, role, name, created, revoked); never the keys themselves."""
    from llmpilot.store.serving import ServingStore

    table = Table(title="API keys")
    for col in ("id", "tenant", "role", "name", "created", "revoked"):
        table.add_column(col)
    for k in ServingStore(_open(project, overrides=overrides).store).list_keys():
        revoked = f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "-"
        table.add_row(str(k.id), k.tenant, k.role, k.name, f"{k.created_at:%Y-%m-%d %H:%M}", revoked)
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[int, typer.Argument(help="The key's id (see `llmpilot keys list`).")],
    project: ProjectOpt = Path("."),
    overrides: SetOpt = None,
) -> None:
    """Revoke a key: requests with it get 401 at once, also on a running server."""
    from llmpilot.store.serving import ServingStore

    record = ServingStore(_open(project, overrides=overrides).store).revoke_key(key_id)
    out.print(f"revoked key {record.id} ({record.name}, tenant {record.tenant!r})")


@app.command()
def serve(
    project: ProjectOpt = Path("."),
    config: Annotated[Path | None, typer.Option(help="Config file (its folder is the project).")] = None,
    overrides: SetOpt = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    tenant: Annotated[str, typer.Option(help="Tenant that owns the project's collection.")] = "default",
    name: Annotated[
        str | None, typer.Option(help="Collection (model) name; default: the folder name.")
    ] = None,
    collection: Annotated[
        list[str] | None,
        typer.Option(help="More collections: TENANT/NAME=PROJECT_PATH (repeatable)."),
    ] = None,
    cors_origin: Annotated[
        list[str] | None, typer.Option(help="Allow this browser origin via CORS (repeatable).")
    ] = None,
    rate_limit: Annotated[
        str, typer.Option(help="Requests per minute per key (N/min; 0 = off).")
    ] = "120/min",
    max_body_bytes: Annotated[int, typer.Option(help="Largest accepted request body.")] = 256 * 1024,
    reports: Annotated[
        list[Path] | None, typer.Option(help="Extra folder of report .html files for admins (repeatable).")
    ] = None,
    secure_cookie: Annotated[bool, typer.Option(help="Mark the session cookie Secure (HTTPS).")] = False,
    metrics_public: Annotated[
        bool, typer.Option(help="Serve /metrics without a key (else an admin key is needed).")
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Worker processes on the port; each loads its own models (memory x N). Sessions, "
            "rate limits, traces and feedback are shared through the store (PostgreSQL for several hosts).",
        ),
    ] = 1,
) -> None:
    """Serve the project: OpenAI-compatible /v1, the /api answer API, and the web UI (docs/SERVING.md).

    --set overrides apply to every collection served (--collection ones too) and to every config
    version a collection loads while it runs; llmpilot.yaml stays the recorded live version (a
    warning says when the overrides change what is answered)."""
    from dataclasses import replace

    from llmpilot.serving.server import CollectionSpec, build_app, parse_mount, parse_rate, run
    from llmpilot.serving.state import ServeSettings

    settings = ServeSettings(
        cors_origins=tuple(cors_origin or ()),
        rate_limit_per_min=parse_rate(rate_limit),
        max_body_bytes=max_body_bytes,
        secure_cookie=secure_cookie,
        reports_dirs=tuple(reports or ()),
        metrics_public=metrics_public,
    )
    sets = tuple(overrides or ())
    specs = [CollectionSpec(config if config is not None else project, tenant, name, sets)]
    specs += [replace(parse_mount(value), overrides=sets) for value in collection or ()]
    if workers > 1:
        from llmpilot.serving.workers import run_workers

        err.print(f"serving on http://{host}:{port} with {workers} workers, each loading the pipeline(s)…")
        run_workers(specs, settings, host, port, workers)
        return
    err.print("loading the pipeline(s)…")
    application = build_app(specs, settings)
    err.print(f"serving on http://{host}:{port} (UI at /, API docs at /docs)")
    run(application, host, port)


def main() -> None:
    """Run the CLI: a user error (LlmpilotError) prints its message and exits 2, anything else one
    line and exits 1; `--debug` (or LLMPILOT_DEBUG=1) shows the traceback instead."""
    try:
        app()
    except LlmpilotError as exc:
        if _Settings.debug:
            raise
        err.print(f"[red]error:[/] {escape(str(exc))}", markup=True, highlight=False, soft_wrap=True)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        err.print("interrupted; re-run the same command to resume")
        raise SystemExit(130) from None
    except Exception as exc:
        if _Settings.debug:
            raise
        lines = str(exc).strip().splitlines()
        what = type(exc).__name__ + (f": {lines[0]}" if lines else "")
        err.print(
            f"[red]error:[/] {escape(what)} (run with --debug for the traceback)",
            markup=True,
            highlight=False,
            soft_wrap=True,
        )
        raise SystemExit(1) from None
