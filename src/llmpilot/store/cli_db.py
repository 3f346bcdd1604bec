"""`llmpilot db up|down|status`: a local PostgreSQL + pgvector for development (store/postgres.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from llmpilot.store import postgres

db_app = typer.Typer(
    help="A local PostgreSQL with pgvector for development: `db up` prints its URL for `store:`.",
    no_args_is_help=True,
)

DirOpt = Annotated[
    Path | None,
    typer.Option("--dir", help="Folder of the server's data (default ~/.local/share/llmpilot/postgres)."),
]


@db_app.command("up")
def db_up(
    folder: DirOpt = None,
    port: Annotated[
        int | None, typer.Option(help="TCP port on 127.0.0.1 (default 5432, or a free one if taken).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print {url, dir, pid} as JSON.")] = False,
) -> None:
    """Start the server (or find it running) and print its URL on the last line."""
    info = postgres.up(folder, port)
    if as_json:
        typer.echo(json.dumps({"url": info.url, "dir": info.dir, "pid": info.pid, "port": info.port}))
        return
    state = "started" if info.started else "already running"
    typer.echo(
        f"PostgreSQL + pgvector {state} (pid {info.pid}, data in {info.dir}); stop it: llmpilot db down"
    )
    typer.echo(f"use it:  store: {info.url}")
    typer.echo(info.url)


@db_app.command("down")
def db_down(folder: DirOpt = None) -> None:
    """Stop the server (its data stays in the folder; `db up` starts it again)."""
    chosen = folder or postgres.default_dir()
    if postgres.down(folder):
        typer.echo(f"stopped the PostgreSQL server of {chosen}")
    else:
        typer.echo(f"no PostgreSQL server is running for {chosen}")


@db_app.command("status")
def db_status(
    folder: DirOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the state as JSON.")] = False,
) -> None:
    """Whether the server of the folder runs, and its URL. Exit code 1 when it does not."""
    chosen = (folder or postgres.default_dir()).expanduser().resolve()
    info = postgres.read_state(chosen)
    if as_json:
        typer.echo(
            json.dumps(info.as_dict() | {"running": True} if info else {"running": False, "dir": str(chosen)})
        )
    elif info is None:
        typer.echo(f"not running ({chosen})")
    else:
        typer.echo(f"running (pid {info.pid}) at {info.url}")
    if info is None:
        raise typer.Exit(1)
