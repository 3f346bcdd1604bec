"""`llmpilot monitor run | watch | alerts | runs`: scheduled re-evaluation with paired tests and
alerts (llmpilot.monitoring.reevaluate). Thin: parse, call the library, print."""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from llmpilot.cli_options import SetOpt
from llmpilot.errors import LlmpilotError
from llmpilot.project import Project

log = logging.getLogger("llmpilot.monitoring")

#: `monitor run --fail-on-alert` exits with this when a run raised an alert (cron, CI).
ALERT_EXIT_CODE = 3
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", re.IGNORECASE)

ProjectOpt = Annotated[
    Path,
    typer.Option(
        "--project", "-p", help="Project folder (holds llmpilot.yaml), or a config file inside one."
    ),
]
CollectionOpt = Annotated[
    str | None,
    typer.Option(help="Collection name (as `llmpilot serve` calls it; default: the project folder's name)."),
]
JudgeOpt = Annotated[
    str | None,
    typer.Option(
        help="Extra reference-free judge: `generator` = the evaluation module's LLM judge with the "
        "project's generator (the answer policy's support check is always used)."
    ),
]


def parse_every(value: str) -> float:
    """'1h', '30m', '90s', '1.5h', '2d' or plain seconds ('600') -> seconds."""
    match = _DURATION.fullmatch(value)
    if not match or float(match.group(1)) <= 0:
        raise LlmpilotError(f"--every: expected a duration such as 1h, 30m or 90s, got {value!r}")
    return float(match.group(1)) * _UNITS[(match.group(2) or "s").lower()]


def _open(project: Path, overrides: list[str] | None) -> Project:
    return Project.open(project, overrides or ())


def _check_eval_set(proj: Project) -> None:
    from llmpilot.monitoring.evalset import eval_set_path

    path = eval_set_path(proj)
    if not path.exists():
        raise LlmpilotError(
            f"no eval set at {path} (monitoring.eval_set in {proj.config_path}): `monitor run` re-evaluates "
            "the project on it and never assumes an empty one. Write one JSON object per line "
            '({"id": "q1", "question": "…", "answer": "…", "doc_ids": ["…"]}) or approve review items '
            "into it (`llmpilot review`)."
        )


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _print_result(console: Console, result: Any) -> None:
    from llmpilot.monitoring.reevaluate import RunReport

    for report in result.runs:
        assert isinstance(report, RunReport)
        what = "eval set" if report.kind == "eval" else "recent traffic"
        against = (
            f"vs baseline run {report.baseline_id}" if report.baseline_id else "first run: it is the baseline"
        )
        table = Table(
            title=f"{what}: run {report.run_id} ({report.n_items} items), {against}", box=box.SIMPLE_HEAD
        )
        # baseline / now / Δ are over the n items both runs scored (the paired test's items); a run with
        # new eval items (no baseline yet) also gets its means over all items, below the table.
        for column in ("metric", "verdict", "n", "baseline", "now", "Δ", "p"):
            left = column in ("metric", "verdict")
            table.add_column(column, justify="left" if left else "right", no_wrap=left)
        compared = {c.metric: c for c in report.comparisons}
        for name, m in report.metrics.items():
            c = compared.get(name)
            if c is None:
                first = "baseline" if report.baseline_id is None else "new metric"
                table.add_row(name, first, str(m.get("n", report.n_items)), "-", _fmt(m["mean"]), "-", "-")
                continue
            verdict = c.verdict if not c.regressed else f"[red]{c.verdict}[/]"
            delta = "-" if c.difference is None else f"{c.difference:+.3f}"
            table.add_row(
                name,
                verdict,
                str(c.n_paired),
                _fmt(c.baseline_mean),
                _fmt(c.current_mean),
                delta,
                _fmt(c.p_value, 4),
            )
        console.print(table)
        paired = max((c.n_paired for c in report.comparisons), default=report.n_items)
        if report.baseline_id is not None and paired < report.n_items:
            overall = ", ".join(
                f"{name} {m['mean']:.3f} ({m['ci_low']:.2f}–{m['ci_high']:.2f})"
                for name, m in report.metrics.items()
            )
            console.print(
                f"compared on the {paired} items both runs scored; "
                f"this run on all {report.n_items}: {overall}",
                soft_wrap=True,
            )
        if report.alert_id is not None:
            console.print(
                f"[red]alert {report.alert_id} ({report.severity}):[/] quality dropped on "
                f"{', '.join(c.metric for c in report.regressions)} (see `llmpilot monitor alerts`)"
            )
    if result.traffic_note:
        console.print(escape(result.traffic_note))
    if result.marked_failed:
        console.print(f"runs left running by an interrupted pass, marked failed: {result.marked_failed}")
    if result.jobs:
        console.print(f"served queued re-evaluation jobs: {result.jobs}")


def drift_pass(project: Project, collection: str | None, console: Console) -> dict[str, Any]:
    """The pass's drift check of recent traffic (llmpilot.monitoring.drift_inputs.traffic_drift): a
    failure is reported, never raised — the re-evaluation above already counts."""
    from llmpilot.monitoring.cli_drift import webhook_hook
    from llmpilot.monitoring.drift_inputs import traffic_drift

    try:
        report = traffic_drift(project, collection=collection, on_alert=webhook_hook(project))
    except Exception as exc:
        log.error("traffic drift check failed: %s: %s", type(exc).__name__, exc)
        console.print(f"[red]traffic drift check failed:[/] {escape(f'{type(exc).__name__}: {exc}')}")
        return {"error": f"{type(exc).__name__}: {exc}"}
    if "skipped" in report:
        console.print(f"traffic drift: skipped, {escape(report['skipped'])}", soft_wrap=True)
    elif not report["drift"]:
        console.print(
            f"traffic drift: none ({report['current']} vs {report['baseline']}, "
            f"{report['n_current']} vs {report['n_baseline']} questions)",
            soft_wrap=True,
        )
    elif report.get("alert_id") is not None:
        console.print(
            f"[red]traffic drift: alert {report['alert_id']}[/] — flagged {', '.join(report['flagged'])}",
            soft_wrap=True,
        )
    else:
        console.print(
            f"traffic drift: flagged {', '.join(report['flagged'])}; {report.get('alert_pending', '')}",
            soft_wrap=True,
        )
    return report


def _write_json(data: Any, out: Path) -> None:
    text = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    if str(out) == "-":
        typer.echo(text)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n", encoding="utf-8")


def register(monitor_app: typer.Typer) -> None:
    """Add run, watch, alerts and runs to `llmpilot monitor`."""

    @monitor_app.command("run")
    def run_command(
        project: ProjectOpt = Path("."),
        overrides: SetOpt = None,
        collection: CollectionOpt = None,
        judge: JudgeOpt = None,
        json_out: Annotated[
            Path | None,
            typer.Option("--json", help="Also write the result as JSON to this file (- = stdout)."),
        ] = None,
        fail_on_alert: Annotated[
            bool, typer.Option(help=f"Exit {ALERT_EXIT_CODE} when a run raised an alert (for cron and CI).")
        ] = False,
    ) -> None:
        """Re-evaluate the live config once on the eval set (monitoring.eval_set, required) and on a
        sample of recent traffic; compare with the previous run (paired bootstrap) and alert on a
        significant drop. Cron-friendly: one pass, then exit."""
        from llmpilot.monitoring.reevaluate import monitor_once

        proj = _open(project, overrides)
        console = Console(stderr=str(json_out) == "-")
        try:
            _check_eval_set(proj)
            result = monitor_once(proj, collection=collection, judge=judge)
            _print_result(console, result)
            drift = drift_pass(proj, collection, console)
        finally:
            proj.close()
        if json_out is not None:
            _write_json({**result.as_dict(), "traffic_drift": drift}, json_out)
        if fail_on_alert and (result.alerted or drift.get("alert_id") is not None):
            raise typer.Exit(ALERT_EXIT_CODE)

    @monitor_app.command("watch")
    def watch_command(
        every: Annotated[str, typer.Option(help="Time between passes: 1h, 30m, 90s …")],
        project: ProjectOpt = Path("."),
        overrides: SetOpt = None,
        collection: CollectionOpt = None,
        judge: JudgeOpt = None,
        max_runs: Annotated[int | None, typer.Option(min=1, help="Stop after this many passes.")] = None,
    ) -> None:
        """Run `monitor run` every --every until Ctrl-C (or --max-runs). A failing pass is logged and
        the loop goes on; the config is re-read each pass, so a promoted config is what gets watched."""
        from llmpilot.monitoring.reevaluate import monitor_once

        interval = parse_every(every)
        console = Console()
        passes = 0
        try:
            while True:
                started = time.monotonic()
                passes += 1
                try:
                    proj = _open(project, overrides)
                    try:
                        _check_eval_set(proj)
                        result = monitor_once(proj, collection=collection, judge=judge)
                        _print_result(console, result)
                        drift_pass(proj, collection, console)
                    finally:
                        proj.close()
                except Exception as exc:  # a failing pass must not end the watch
                    log.error("monitor pass %d failed: %s: %s", passes, type(exc).__name__, exc)
                    console.print(
                        f"[red]pass {passes} failed:[/] {escape(f'{type(exc).__name__}: {exc}')}",
                        soft_wrap=True,
                    )
                if max_runs is not None and passes >= max_runs:
                    break
                time.sleep(max(0.0, interval - (time.monotonic() - started)))
        except KeyboardInterrupt:
            console.print(f"stopped after {passes} pass(es)")
            return
        console.print(f"done: {passes} pass(es)")

    @monitor_app.command("alerts")
    def alerts_command(
        project: ProjectOpt = Path("."),
        overrides: SetOpt = None,
        collection: CollectionOpt = None,
        limit: Annotated[int, typer.Option(min=1, help="How many of the newest alerts to list.")] = 20,
        ack: Annotated[int | None, typer.Option(help="Acknowledge this alert id.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    ) -> None:
        """List alerts, newest first (evidence and delivery with --json); --ack ID acknowledges one."""
        from llmpilot.monitoring.store import MonitorStore

        proj = _open(project, overrides)
        try:
            monitor = MonitorStore(proj.store)
            if ack is not None:
                if not monitor.acknowledge_alert(ack):
                    raise LlmpilotError(
                        f"--ack {ack}: no open alert with that id (see `llmpilot monitor alerts`)"
                    )
                typer.echo(f"acknowledged alert {ack}")
                return
            alerts = monitor.alerts(limit=limit, collection=collection)
        finally:
            proj.close()
        if as_json:
            typer.echo(json.dumps(alerts, ensure_ascii=False, indent=2, default=str))
            return
        console = Console()
        if not alerts:
            console.print("no alerts")
        for a in alerts:  # one line each: titles are long, a table would fold them
            state = "acknowledged" if a["acknowledged_at"] else "open"
            console.print(
                f"#{a['id']} {str(a['created_at'] or '')[:19]} {a['severity']} {a['kind']} "
                f"in {escape(a['collection'])}: {escape(a['title'])} "
                f"({_delivery(a['delivered'])}; {state})",
                soft_wrap=True,
                highlight=False,
            )

    @monitor_app.command("runs")
    def runs_command(
        project: ProjectOpt = Path("."),
        overrides: SetOpt = None,
        collection: CollectionOpt = None,
        limit: Annotated[int, typer.Option(min=1, help="How many of the newest runs to list.")] = 20,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    ) -> None:
        """List monitor runs, newest first: kind, status, baseline, alert and main metrics."""
        from llmpilot.monitoring.store import MonitorStore

        proj = _open(project, overrides)
        try:
            runs = MonitorStore(proj.store).monitor_runs(collection=collection, limit=limit)
        finally:
            proj.close()
        if as_json:
            typer.echo(json.dumps(runs, ensure_ascii=False, indent=2, default=str))
            return
        console = Console()
        if not runs:
            console.print("no monitor runs yet (`llmpilot monitor run`)")
        for r in runs:  # one line each: readable in a narrow terminal and in a log
            summary = r["summary"]
            metrics = summary.get("metrics") or {}
            shown = ", ".join(f"{name} {m['mean']:.3f}" for name, m in metrics.items())
            parts = [
                f"#{r['id']} {r['kind']} {r['collection']} {r['status']}",
                str(r["started_at"] or "")[:16].replace("T", " "),
                f"items={summary.get('n_items', '-')}",
            ]
            if r["baseline_id"]:
                parts.append(f"baseline=#{r['baseline_id']}")
            if summary.get("alert_id"):
                parts.append(f"alert=#{summary['alert_id']}")
            detail = shown or str(summary.get("error", ""))
            console.print(
                escape(" ".join(parts) + (f" | {detail}" if detail else "")), soft_wrap=True, highlight=False
            )


def _delivery(delivered: dict[str, Any]) -> str:
    parts = ["log" if delivered.get("log") else "log failed"]
    webhook = delivered.get("webhook")
    if isinstance(webhook, dict):
        parts.append(f"webhook {webhook['status']}" if "error" not in webhook else "webhook failed")
    elif webhook:
        parts.append(f"webhook {webhook}")
    return ", ".join(parts)
