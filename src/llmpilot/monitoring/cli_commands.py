"""Registers every monitoring command module on the apps of llmpilot.monitoring.cli."""

from __future__ import annotations

import typer


def register(monitor_app: typer.Typer, review_app: typer.Typer, deploy_app: typer.Typer) -> None:
    from llmpilot.monitoring import cli_drift, cli_loop, cli_run

    cli_run.register(monitor_app)
    cli_drift.register(monitor_app)
    cli_loop.register_review(review_app)
    cli_loop.register_deploy(deploy_app)
