"""`llmpilot monitor drift`: compare two windows of questions (query files or stored traces) and
print each drift signal; thin over llmpilot.monitoring.drift_inputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from llmpilot.cli_options import SetOpt, check_overrides_have_project

if TYPE_CHECKING:
    from llmpilot.monitoring.drift_inputs import AlertHook
    from llmpilot.project import Project

#: Exit code of --fail-on-drift when drift was found (2 is a user error, 1 an unexpected one).
DRIFT_EXIT = 3


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def signals_table(report: dict[str, Any]) -> Table:
    table = Table(title=f"drift: {report['baseline']} → {report['current']}")
    for column in ("signal", "method", "n (base/cur)", "statistic", "p", "p adj. (Holm)", "verdict"):
        table.add_column(column)
    for name, signal in report["signals"].items():
        verdict = "skipped" if "skipped" in signal else "[red]DRIFT[/]" if signal["drift"] else "ok"
        table.add_row(
            name,
            signal["method"],
            f"{signal['n_baseline']}/{signal['n_current']}",
            _fmt(signal["statistic"]),
            _fmt(signal["p_value"]),
            _fmt(signal.get("p_adjusted")),
            verdict,
        )
    return table


def skipped_lines(report: dict[str, Any]) -> list[str]:
    return [
        f"skipped {name}: {escape(signal['skipped'])}"
        for name, signal in report["signals"].items()
        if "skipped" in signal
    ]


def webhook_hook(project: Project) -> AlertHook | None:
    """With `monitoring.webhook` set: an `on_alert` that POSTs the stored alert there
    (llmpilot.monitoring.alerts) and records the outcome with the alert."""
    cfg = project.config.monitoring
    if not cfg.webhook:
        return None
    url = cfg.webhook

    def deliver(alert_id: int, alert: dict[str, Any]) -> None:
        from llmpilot.monitoring.alerts import post_webhook
        from llmpilot.monitoring.store import MonitorStore

        payload = {"id": alert_id, **alert, "source": "llmpilot"}
        outcome = post_webhook(url, payload, secret_env=cfg.webhook_secret_env)
        MonitorStore(project.store).set_alert_delivery(alert_id, {"log": True, "webhook": outcome})

    return deliver


def register(monitor_app: typer.Typer) -> None:
    @monitor_app.command("drift")
    def drift(
        baseline: Annotated[
            str,
            typer.Option(
                help='Baseline window: a JSONL query file ({"id"?, "text"}) or traces:SINCE..UNTIL.'
            ),
        ],
        current: Annotated[
            str,
            typer.Option(
                help="Current window: a JSONL query file or traces:SINCE..UNTIL (e.g. traces:-1d..now)."
            ),
        ],
        project: Annotated[
            Path | None,
            typer.Option(
                "--project",
                "-p",
                help="Project folder: retrieve the questions (top score, abstain), read traces, record runs.",
            ),
        ] = None,
        config: Annotated[Path | None, typer.Option(help="Config file (its folder is the project).")] = None,
        overrides: SetOpt = None,
        collection: Annotated[
            str | None, typer.Option(help="Only this collection's traces; alerts are filed under it.")
        ] = None,
        json_out: Annotated[
            Path | None, typer.Option("--json", help="Write the report as JSON here.")
        ] = None,
        method: Annotated[str, typer.Option(help="Query-embedding test: mmd or classifier.")] = "mmd",
        permutations: Annotated[
            int | None,
            typer.Option(
                min=50, help="Permutations of the p-values (default monitoring.drift_permutations)."
            ),
        ] = None,
        seed: Annotated[int, typer.Option(help="Seed of the permutations.")] = 0,
        alpha: Annotated[
            float | None,
            typer.Option(min=0.0, max=1.0, help="Family-wise level (default monitoring.alpha, 0.05)."),
        ] = None,
        fail_on_drift: Annotated[bool, typer.Option(help=f"Exit {DRIFT_EXIT} when drift is found.")] = False,
    ) -> None:
        """Did the questions drift? Query embeddings (MMD or a classifier test), retrieval scores,
        abstain rate, language mix and feedback rate of two windows; Holm's rule over the signals.

        Exits 0 whether or not drift is found (a finding, not an error) unless --fail-on-drift.
        With a project, the run is recorded (`monitor runs`) and drift raises an alert."""
        from llmpilot.monitoring.drift_inputs import run_drift_check
        from llmpilot.project import Project

        opened = None
        check_overrides_have_project(overrides, config or project)
        if config is not None or project is not None:
            location = config if config is not None else project
            assert location is not None
            opened = Project.open(location, overrides or ())
        try:
            report = run_drift_check(
                opened,
                baseline,
                current,
                method=method,
                permutations=permutations,
                seed=seed,
                alpha=alpha,
                collection=collection,
                on_alert=webhook_hook(opened) if opened is not None else None,
            )
        finally:
            if opened is not None:
                opened.close()
        out = Console()
        out.print(signals_table(report))
        for line in skipped_lines(report):
            out.print(line, style="dim")
        verdict = "DRIFT / 분포 변화" if report["drift"] else "no drift / 변화 없음"
        out.print(f"{verdict}: {report['decision']}; flagged: {', '.join(report['flagged']) or 'none'}")
        if "alert_id" in report:
            out.print(f"alert {report['alert_id']} recorded (llmpilot monitor alerts)")
        if json_out is not None:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        if fail_on_drift and report["drift"]:
            raise typer.Exit(DRIFT_EXIT)
