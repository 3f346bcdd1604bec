"""`llmpilot ingest --sql URL --ask "…"` on a real SQLite database (the SQL-drafting eval schema):
the drafted read-only SELECT is shown with a preview of its rows and ingested only when confirmed;
the database file is never written."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from llmpilot.cli import app
from llmpilot.config import update_config_file
from llmpilot.errors import LlmpilotError
from llmpilot.project import Project

runner = CliRunner()
DATA = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "sql_agent"


def _database(folder: Path) -> Path:
    path = folder / "support.db"
    with sqlite3.connect(path) as conn:
        conn.executescript((DATA / "schema.sql").read_text(encoding="utf-8"))
        conn.executescript((DATA / "seed.sql").read_text(encoding="utf-8"))
    conn.close()
    return path


def _project(folder: Path) -> Path:
    root = folder / "project"
    assert runner.invoke(app, ["init", str(root), "--generator", "extractive"]).exit_code == 0
    update_config_file(root / "llmpilot.yaml", {"retrieval": {"mode": "keyword"}})
    return root


def test_ask_drafts_previews_and_ingests_the_published_faq(tmp_path: Path) -> None:
    db, root = _database(tmp_path), _project(tmp_path)
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    with sqlite3.connect(db) as conn:
        published = {str(r[0]) for r in conn.execute("SELECT id FROM faq WHERE status = 'published'")}
    conn.close()
    result = runner.invoke(
        app,
        ["ingest", "-p", str(root), "--sql", f"sqlite:///{db}", "--ask", "게시된 FAQ 질문과 답변", "--yes"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "drafted by rules" in result.output and "SELECT" in result.output and "preview" in result.output
    proj = Project.open(root)
    ids = {s.document.id for s in proj.store.documents()}
    proj.close()
    assert ids == {f"sql:{i}" for i in published}
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest


def test_ask_without_yes_needs_a_terminal_and_ingests_nothing(tmp_path: Path) -> None:
    db, root = _database(tmp_path), _project(tmp_path)
    result = runner.invoke(
        app, ["ingest", "-p", str(root), "--sql", f"sqlite:///{db}", "--ask", "active products"], input="y\n"
    )
    assert isinstance(result.exception, LlmpilotError)
    assert "--yes" in str(result.exception)
    proj = Project.open(root)
    assert proj.store.documents() == []
    proj.close()


def test_ask_and_query_together_are_refused(tmp_path: Path) -> None:
    db, root = _database(tmp_path), _project(tmp_path)
    result = runner.invoke(
        app, ["ingest", "-p", str(root), "--sql", f"sqlite:///{db}", "--ask", "faq", "--query", "SELECT 1"]
    )
    assert isinstance(result.exception, LlmpilotError) and "--ask" in str(result.exception)
