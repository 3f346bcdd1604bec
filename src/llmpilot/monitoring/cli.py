"""`llmpilot monitor …`, `llmpilot review …`, `llmpilot deploy …` and `llmpilot sync`: thin commands
over llmpilot.monitoring. Each module registers its own commands on these apps."""

from __future__ import annotations

import typer

monitor_app = typer.Typer(
    help="Watch the served service: re-evaluate it (run, watch), detect drift, list alerts.",
    no_args_is_help=True,
)
review_app = typer.Typer(
    help="The review queue: feedback and abstained questions that may join the eval set.",
    no_args_is_help=True,
)
deploy_app = typer.Typer(
    help="Config versions: add a candidate, compare it offline and online, promote, roll back.",
    no_args_is_help=True,
)


def _register() -> None:
    from llmpilot.monitoring import cli_commands

    cli_commands.register(monitor_app, review_app, deploy_app)


_register()
