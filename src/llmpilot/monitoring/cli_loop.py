"""`llmpilot review …`, `llmpilot deploy …` and `llmpilot sync`: thin commands over the review queue,
config versions, experiments and sync (llmpilot.monitoring)."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from llmpilot.cli_options import SetOpt
from llmpilot.project import Project

out = Console()
err = Console(stderr=True)

ProjectOpt = Annotated[
    Path,
    typer.Option(
        "--project", "-p", help="Project folder (holds llmpilot.yaml), or a config file inside one."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _who(name: str | None) -> str:
    if name:
        return name
    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return "cli"


AsOpt = Annotated[str | None, typer.Option("--as", help="Who decides (recorded); default: your user name.")]


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


def _short(text: str | None, n: int = 70) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: n - 1] + "…"


# --- review ------------------------------------------------------------------------------------


def register_review(review_app: typer.Typer) -> None:
    @review_app.command("collect")
    def review_collect(
        project: ProjectOpt = Path("."), overrides: SetOpt = None, as_json: JsonOpt = False
    ) -> None:
        """Queue feedback (corrections, thumbs-down, ratings ≤ 2) and abstained answers for review.
        The server queues feedback as it arrives; this also picks up what came before."""
        from llmpilot.monitoring.review import collect, pipeline_search

        proj = Project.open(project, overrides or ())
        added = collect(proj.store, search=pipeline_search(proj))
        if as_json:
            _print_json(added)
        else:
            out.print("queued for review: " + ", ".join(f"{n} {reason}" for reason, n in added.items()))

    @review_app.command("list")
    def review_list(
        project: ProjectOpt = Path("."),
        overrides: SetOpt = None,
        status: Annotated[str, typer.Option(help="pending | approved | rejected | all")] = "pending",
        as_json: JsonOpt = False,
    ) -> None:
        """The review queue (pending items by default)."""
        from llmpilot.errors import LlmpilotError
        from llmpilot.monitoring.store import MonitorStore

        if status not in ("pending", "approved", "rejected", "all"):
            raise LlmpilotError(f"--status must be pending, approved, rejected or all, got {status!r}")
        items = MonitorStore(Project.open(project, overrides or ()).store).review_items(
            status=None if status == "all" else status
        )
        if as_json:
            _print_json(items)
            return
        table = Table(title=f"review queue ({status})")
        for col in (
            "id",
            "reason",
            "question",
            "answer given",
            "proposed answer",
            "proposed sources",
            "status",
        ):
            table.add_column(col)
        for i in items:
            table.add_row(
                str(i["id"]),
                i["reason"],
                _short(i["question"], 50),
                _short(i["answer"], 40),
                _short(i["proposed_answer"], 40),
                ", ".join(i["proposed_doc_ids"]),
                i["status"],
            )
        out.print(table)

    @review_app.command("approve")
    def review_approve(
        item_id: Annotated[int, typer.Argument(help="The item's id (see `llmpilot review list`).")],
        project: ProjectOpt = Path("."),
        overrides: SetOpt = None,
        answer: Annotated[
            str | None, typer.Option(help="The reference answer (default: the user's correction).")
        ] = None,
        doc_id: Annotated[
            list[str] | None,
            typer.Option(help="A stored document that answers it (repeatable; default: proposed)."),
        ] = None,
        who: AsOpt = None,
    ) -> None:
        """Add the item to the project's eval set, with its provenance."""
        from llmpilot.monitoring.review import approve

        proj = Project.open(project, overrides or ())
        item = approve(proj, item_id, reviewer=_who(who), answer=answer, doc_ids=doc_id)
        out.print(f"added {item['id']} to the eval set ({proj.config.monitoring.eval_set})")

    @review_app.command("reject")
    def review_reject(
        item_id: Annotated[int, typer.Argument(help="The item's id.")],
        project: ProjectOpt = Path("."),
        overrides: SetOpt = None,
        who: AsOpt = None,
    ) -> None:
        """Leave the item out of the eval set (recorded, not deleted)."""
        from llmpilot.monitoring.review import reject

        reject(Project.open(project, overrides or ()), item_id, reviewer=_who(who))
        out.print(f"rejected review item {item_id}")


# --- deploy ------------------------------------------------------------------------------------


def register_deploy(deploy_app: typer.Typer) -> None:
    @deploy_app.command("list")
    def deploy_list(
        project: ProjectOpt = Path("."), overrides: SetOpt = None, as_json: JsonOpt = False
    ) -> None:
        """Every config version (live, candidates, retired), the deployments and the experiments."""
        from llmpilot.monitoring.store import MonitorStore
        from llmpilot.monitoring.versions import ensure_live_version

        proj = Project.open(project, overrides or ())
        ensure_live_version(proj)
        monitor = MonitorStore(proj.store)
        data = {
            "versions": [v.as_dict() for v in monitor.versions()],
            "deployments": monitor.deployments(),
            "experiments": monitor.experiments(),
        }
        if as_json:
            _print_json(data)
            return
        table = Table(title="config versions")
        for col in ("version", "status", "hash", "source", "note", "created"):
            table.add_column(col)
        for v in data["versions"]:
            table.add_row(
                str(v["version"]),
                v["status"],
                v["config_hash"],
                _short(v["source"], 50),
                _short(v["note"], 40),
                (v["created_at"] or "")[:19],
            )
        out.print(table)
        if data["deployments"]:
            history = Table(title="deployments")
            for col in ("when", "action", "version", "previous", "by"):
                history.add_column(col)
            for d in data["deployments"]:
                history.add_row(
                    (d["created_at"] or "")[:19],
                    d["action"],
                    str(d["version"]),
                    str(d["previous_version"] or "-"),
                    d["actor"],
                )
            out.print(history)

    @deploy_app.command("add")
    def deploy_add(
        config: Annotated[
            Path, typer.Argument(help="A config file: best.yaml from `optimize`, or a variant.")
        ],
        project: ProjectOpt = Path("."),
        overrides: SetOpt = None,
        note: Annotated[str, typer.Option(help="Why this candidate.")] = "",
        who: AsOpt = None,
    ) -> None:
        """Register a candidate version (its chunks and indexes are built from the stored documents)."""
        from llmpilot.monitoring.versions import add_candidate

        version = add_candidate(Project.open(project, overrides or ()), config, note=note, by=_who(who))
        out.print(f"candidate config version {version.id} ({version.config_hash})")

    @deploy_app.command("reoptimize")
    def deploy_reoptimize(
        space: Annotated[Path, typer.Option(help="Search space YAML (see examples/space-*.yaml).")],
        project: ProjectOpt = Path("."),
        overrides: SetOpt = None,
        out_dir: Annotated[Path | None, typer.Option("--out", help="Folder for the study.")] = None,
        workdir: Annotated[Path, typer.Option(help="Optimizer work folder.")] = Path(".llmpilot-bench"),
        who: AsOpt = None,
        progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    ) -> None:
        """Search the space on the project's eval set (grown by approved reviews); the best config
        becomes a candidate version."""
        from llmpilot.monitoring.reoptimize import reoptimize

        proj = Project.open(project, overrides or ())
        folder = out_dir or proj.root / "reports" / "reoptimize"
        version, report = reoptimize(proj, space, folder, workdir=workdir, by=_who(who), progress=progress)
        out.print(f"candidate config version {version.id}: {version.note}")
        out.print(f"report: {report}")

    @deploy_app.command("compare")
    def deploy_compare(
        candidate: Annotated[int, typer.Argument(help="Candidate version.")],
        project: ProjectOpt = Path("."),
        overrides: SetOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Offline: the live and the candidate version on the eval set, paired per item."""
        from llmpilot.monitoring.deploy import compare_offline

        result = compare_offline(Project.open(project, overrides or ()), candidate)
        if as_json:
            _print_json(result)
            return
        title = (
            f"v{result['live_version']} (live) vs v{result['candidate_version']} (candidate), "
            f"{result['n_items']} eval items"
        )
        table = Table(title=title)
        for col in ("metric", "live", "candidate", "Δ [95% CI]", "p"):
            table.add_column(col)
        for name, m in result["metrics"].items():
            table.add_row(
                name,
                f"{m['live']:.3f}",
                f"{m['candidate']:.3f}",
                f"{m['mean_diff']:+.3f} [{m['ci_low']:+.3f}, {m['ci_high']:+.3f}]",
                f"{m['p_value']:.3f}",
            )
        out.print(table)

    def _start(
        candidate: int, project: Path, overrides: list[str] | None, mode: str, fraction: float
    ) -> None:
        from llmpilot.monitoring.deploy import start_experiment

        experiment = start_experiment(
            Project.open(project, overrides or ()), candidate, mode=mode, fraction=fraction
        )
        out.print(
            f"experiment {experiment}: {mode} of config version {candidate} on {fraction:.0%} of the traffic "
            "(a running server picks it up within seconds; `llmpilot deploy report`)"
        )

    @deploy_app.command("shadow")
    def deploy_shadow(
        candidate: Annotated[int, typer.Argument(help="Candidate version.")],
        project: ProjectOpt = Path("."),
        overrides: SetOpt = None,
        fraction: Annotated[float, typer.Option(help="Share of live requests answered again.")] = 1.0,
    ) -> None:
        """Answer live requests again with the candidate in the background (users see the live answer)."""
        _start(candidate, project, overrides, "shadow", fraction)

    @deploy_app.command("split")
    def deploy_split(
        candidate: Annotated[int, typer.Argument(help="Candidate version.")],
        project: ProjectOpt = Path("."),
        overrides: SetOpt = None,
        fraction: Annotated[
            float, typer.Option(help="Share of callers (API keys) served by the candidate.")
        ] = 0.1,
    ) -> None:
        """Serve a sticky share of the callers with the candidate."""
        _start(candidate, project, overrides, "split", fraction)

    @deploy_app.command("report")
    def deploy_report(
        project: ProjectOpt = Path("."),
        overrides: SetOpt = None,
        experiment: Annotated[
            int | None, typer.Option(help="Experiment id (default: the running one).")
        ] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """The online comparison so far: judge scores, feedback, the significance test and the verdict."""
        from llmpilot.monitoring.deploy import experiment_report

        report = experiment_report(Project.open(project, overrides or ()), experiment)
        if as_json:
            _print_json(report)
            return
        exp = report["experiment"]
        out.print(
            f"experiment {exp['id']} ({exp['mode']}): "
            f"v{exp['candidate_version']} vs live v{exp['live_version']}"
        )
        judge = report["evidence"].get("judge")
        if judge:
            out.print(
                f"judge: live {judge['live_mean']:.3f}, candidate {judge['candidate_mean']:.3f}, "
                f"Δ {judge['mean_diff']:+.3f}, p = {judge['p_value']:.4f}"
            )
        if report["evidence"].get("feedback"):
            out.print(f"feedback: {report['evidence']['feedback']}")
        if report["evidence"].get("reason"):
            out.print(report["evidence"]["reason"])
        out.print(f"verdict: [bold]{report['verdict']}[/]")

    @deploy_app.command("stop")
    def deploy_stop(project: ProjectOpt = Path("."), overrides: SetOpt = None) -> None:
        """Stop the running experiment (its verdict is recorded)."""
        from llmpilot.monitoring.deploy import stop_experiment

        report = stop_experiment(Project.open(project, overrides or ()))
        out.print(f"stopped experiment {report['experiment']['id']}: verdict {report['verdict']}")

    @deploy_app.command("promote")
    def deploy_promote(
        version: Annotated[int, typer.Argument(help="The version to serve.")],
        project: ProjectOpt = Path("."),
        overrides: SetOpt = None,
        force: Annotated[bool, typer.Option(help="Promote even without a 'promote' verdict.")] = False,
        offline: Annotated[
            bool, typer.Option(help="Also record the offline comparison as evidence.")
        ] = False,
        who: AsOpt = None,
    ) -> None:
        """Serve `version`: llmpilot.yaml is rewritten and a running server swaps to it. Needs the online
        comparison's 'promote' verdict unless --force; the evidence is recorded either way."""
        from llmpilot.monitoring.deploy import compare_offline, promote_with_evidence

        proj = Project.open(project, overrides or ())
        evidence_offline = compare_offline(proj, version) if offline else None
        result = promote_with_evidence(proj, version, actor=_who(who), offline=evidence_offline, force=force)
        out.print(f"config version {version} is live (was {result['previous_version']})")

    @deploy_app.command("rollback")
    def deploy_rollback(
        project: ProjectOpt = Path("."),
        overrides: SetOpt = None,
        to: Annotated[
            int | None, typer.Option(help="Version to go back to (default: the previous live one).")
        ] = None,
        who: AsOpt = None,
    ) -> None:
        """Serve the version that was live before (a running server swaps within seconds)."""
        from llmpilot.monitoring.versions import rollback

        version, previous = rollback(Project.open(project, overrides or ()), actor=_who(who), to=to)
        out.print(f"config version {version.id} is live again (was {previous})")


# --- sync --------------------------------------------------------------------------------------


def sync_command(
    project: ProjectOpt = Path("."),
    overrides: SetOpt = None,
    as_json: JsonOpt = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Re-read every folder, file and SQL query the project was ingested from (incrementally); stale
    cached answers are dropped and, when documents changed, a re-evaluation is queued."""
    from llmpilot.monitoring.sync import sync

    report = sync(Project.open(project, overrides or ()), progress=progress)
    if as_json:
        _print_json(report.as_dict())
    else:
        ingest = report.ingest
        out.print(
            f"synced {report.watched} watched source(s): "
            f"{ingest.get('documents_written', 0)} document(s) written, "
            f"{ingest.get('documents_removed', 0)} removed, "
            f"{report.cache_entries_invalidated} cached answer(s) dropped"
        )
        if report.changed:
            out.print(
                f"collection version {report.collection_version_before} → {report.collection_version_after}; "
                f"re-evaluation queued (job {report.job_id}) for `llmpilot monitor run`"
            )
        else:
            out.print("nothing changed")
    for failure in report.failed:
        err.print(f"[red]failed:[/] {failure}", soft_wrap=True, highlight=False)
    if report.failed:
        raise typer.Exit(1)
