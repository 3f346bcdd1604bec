"""Command-line options shared by every command that reads a pipeline config."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmpilot.errors import LlmpilotError

#: `--set KEY=VALUE` (repeatable): config settings over the file's, for this command only
#: (llmpilot.config.parse_overrides). Commands take it as `overrides: SetOpt = None`.
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Override a config setting for this run, e.g. --set retrieval.top_k=8 or "
        "--set store=postgresql+psycopg://user@host/db (dotted KEY, YAML VALUE; repeatable).",
    ),
]


def check_overrides_have_project(overrides: list[str] | None, project: Path | None) -> None:
    """--set on a command whose project is optional: without one there is no config to override, and
    dropping the overrides silently would run something other than what was asked."""
    if overrides and project is None:
        raise LlmpilotError("--set overrides a project's config: give the project with -p/--project")
