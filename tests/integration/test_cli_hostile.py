"""The CLI against hostile input (issue 11): failures give a non-zero exit and a summary, bad
options and files give one clear line, and no traceback reaches a user without --debug."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmpilot.cli import app, main
from llmpilot.config import load_config
from llmpilot.errors import ConfigError
from llmpilot.project import Project

runner = CliRunner()

CONFIG = """\
embedder: {name: hashing}
chunking: {method: recursive, size: 200, overlap: 20}
retrieval: {mode: hybrid, top_k: 3}
"""


def make_project(root: Path) -> Path:
    folder = root / "project"
    folder.mkdir()
    (folder / "llmpilot.yaml").write_text(CONFIG, encoding="utf-8")
    return folder


def make_docs(root: Path) -> Path:
    docs = root / "docs"
    docs.mkdir()
    (docs / "support.txt").write_text("Support answers calls from 9 am to 6 pm on weekdays.", "utf-8")
    (docs / "warranty.md").write_text("# Warranty\n\nTen years from installation.", "utf-8")
    return docs


def stored_ids(project_dir: Path) -> set[str]:
    project = Project.open(project_dir)
    try:
        return {s.document.id for s in project.store.documents()}
    finally:
        project.close()


def ingest(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["ingest", "--no-progress", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


# --- ingest: exit status and summary ------------------------------------------------------------------


def test_ingest_exits_0_when_everything_loads(tmp_path: Path) -> None:
    project, docs = make_project(tmp_path), make_docs(tmp_path)
    code, output = ingest("-p", str(project), str(docs))
    assert code == 0, output
    assert "failed:" not in output


def test_ingest_exits_1_when_a_file_fails_and_ingests_the_rest(tmp_path: Path) -> None:
    project, docs = make_project(tmp_path), make_docs(tmp_path)
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf\n%%EOF")
    (docs / "empty.jsonl").write_bytes(b"")
    code, output = ingest("-p", str(project), str(docs))
    assert code == 1, output
    assert f"failed: {docs / 'broken.pdf'}: not a readable PDF" in output
    assert f"warning: {docs / 'empty.jsonl'}: empty JSONL file" in output
    assert "1 source(s) could not be ingested" in output
    assert stored_ids(project) == {"docs/support.txt", "docs/warranty.md"}


def test_ingest_exits_1_when_the_sql_source_fails_and_the_files_still_ingest(tmp_path: Path) -> None:
    project, docs = make_project(tmp_path), make_docs(tmp_path)
    missing = tmp_path / "missing.db"
    query = ["--query", "SELECT id, text FROM faq"]
    code, output = ingest("-p", str(project), str(docs), "--sql", f"sqlite:///{missing}", *query)
    assert code == 1, output
    assert "SQLite database file not found" in output and "could not be ingested" in output
    assert stored_ids(project) == {"docs/support.txt", "docs/warranty.md"}

    # A URL that is not a URL at all fails the SQL source only, too.
    (docs / "new.txt").write_text("Returns are accepted within 30 days.", encoding="utf-8")
    code, output = ingest("-p", str(project), str(docs), "--sql", "not a url", *query)
    assert code == 1, output
    assert "failed: sql: not a valid database URL" in output
    assert "docs/new.txt" in stored_ids(project)


def test_ingest_reports_a_binary_sql_column(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    db = tmp_path / "kb.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE faq (id INTEGER, text BLOB)")
        conn.executemany("INSERT INTO faq VALUES (?, ?)", [(1, "Ten-year warranty."), (2, b"\x00\xff\xfe")])
    code, output = ingest(
        "-p", str(project), "--sql", f"sqlite:///{db}", "--query", "SELECT id, text FROM faq"
    )
    assert code == 0, output
    assert "column 'text' holds binary data" in output and "rows 2" in output
    assert stored_ids(project) == {"sql:1"}


# --- search -k ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", ["0", "-5"])
def test_search_rejects_k_below_1(tmp_path: Path, k: str) -> None:
    project, docs = make_project(tmp_path), make_docs(tmp_path)
    assert ingest("-p", str(project), str(docs))[0] == 0
    result = runner.invoke(app, ["search", "-p", str(project), "-k", k, "warranty"])
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.replace("│", " ").split())  # typer draws a box around it
    assert "Invalid value for '--k' / '-k'" in message and "greater than or equal to 1" in message


# --- config files and tracebacks ---------------------------------------------------------------------


def test_config_that_is_not_utf8_names_the_file_line_and_byte(tmp_path: Path) -> None:
    path = tmp_path / "llmpilot.yaml"
    path.write_bytes(b"version: 1\n# caf\xe9 settings\nstore: sqlite:///x.db\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == (
        f"{path}: not UTF-8 text: byte 0xe9 at offset 16 (line 2, column 6) is not valid UTF-8; "
        "save the file as UTF-8"
    )


def test_config_nested_too_deeply_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"deep\.yaml: nested too deeply"):
        load_config(path)


def test_cli_config_that_is_not_utf8_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "llmpilot.yaml").write_bytes(b"embedder:\n  name: \xff\xfehashing\n")
    for argv in (
        ["search", "-p", str(project), "q"],
        ["search", "--config", str(project / "llmpilot.yaml"), "q"],
    ):
        monkeypatch.setattr("sys.argv", ["llmpilot", *argv])
        with pytest.raises(SystemExit) as exc:
            main()
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert "llmpilot.yaml: not UTF-8 text: byte 0xff at offset 18 (line 2" in err
        assert "Traceback" not in err


def _symlink_loop(tmp_path: Path) -> Path:
    # Path.resolve() raises RuntimeError on a loop: an error no command anticipates.
    loop = tmp_path / "loop"
    loop.symlink_to("loop")
    return loop


def test_unexpected_errors_are_one_line_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LLMPILOT_DEBUG", raising=False)
    monkeypatch.setattr("sys.argv", ["llmpilot", "search", "-p", str(_symlink_loop(tmp_path)), "q"])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        f"error: RuntimeError: Symlink loop from '{tmp_path / 'loop'}' (run with --debug for the traceback)"
    ]


@pytest.mark.parametrize("how", ["option", "env"])
def test_debug_shows_the_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    argv = ["llmpilot", "search", "-p", str(_symlink_loop(tmp_path)), "q"]
    if how == "option":
        argv.insert(1, "--debug")
    else:
        monkeypatch.setenv("LLMPILOT_DEBUG", "1")
    monkeypatch.setattr("sys.argv", argv)
    # The exception itself propagates: Python prints its full traceback.
    with pytest.raises(RuntimeError, match="Symlink loop"):
        main()
