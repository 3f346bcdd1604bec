"""`llmpilot ingest --sql URL --ask "…"`: draft a read-only SELECT from the database's schema, show it
with a preview of its rows, and hand it to the SQL source only once the user confirms."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from llmpilot.errors import LlmpilotError
from llmpilot.project import Project

#: Rows shown before asking.
PREVIEW_ROWS = 5


def draft_and_confirm(
    project: Project, url: str, request: str, *, use_model: bool, yes: bool, out: Console, err: Console
) -> tuple[str, str, str, str | None] | None:
    """(query, text column, id column, title column) to ingest, or None when the user declines.
    The draft is the rules' unless `use_model` (the project's generator; its draft falls back to the
    rules' when it is unusable, with a note)."""
    from llmpilot import factory
    from llmpilot.sources.sql_agent import describe_schema, draft_query
    from llmpilot.sources.sql_guard import check_read_only, run_read_only

    schema = describe_schema(url)
    generator = factory.generator(project.config.generator) if use_model else None
    draft = draft_query(request, schema, generator=generator)
    for note in draft.notes:
        err.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True, highlight=False)
    sql = check_read_only(draft.sql, dialect=schema.dialect)
    out.print(f"drafted by {escape(draft.method)}:", highlight=False)
    out.print(escape(sql), highlight=False, soft_wrap=True)
    out.print(
        f"id column: {escape(draft.id_column)}, text column: {escape(draft.text_column)}"
        + (f", title column: {escape(draft.title_column)}" if draft.title_column else ""),
        highlight=False,
    )
    columns, rows = run_read_only(url, sql, PREVIEW_ROWS)
    table = Table(title=f"preview (first {PREVIEW_ROWS} rows)")
    for col in columns:
        table.add_column(escape(str(col)), overflow="fold")
    for row in rows:
        table.add_row(*(escape(str(v))[:80] for v in row))
    out.print(table)
    missing = [c for c in (draft.id_column, draft.text_column, draft.title_column) if c and c not in columns]
    if missing:
        raise LlmpilotError(
            f"the drafted query returns no column {missing[0]!r}; "
            "write it yourself with --query and --text-column"
        )
    if not rows:
        err.print("[yellow]the query returns no rows[/]")
    if not yes:
        if not sys.stdin.isatty():
            raise LlmpilotError("confirm the drafted query: run again with --yes (stdin is not a terminal)")
        if not typer.confirm("ingest the rows of this query?", default=False):
            err.print("not ingested")
            return None
    return sql, draft.text_column, draft.id_column, draft.title_column
