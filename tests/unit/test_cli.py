"""The CLI is thin: these check its wiring (help, errors without tracebacks), not the library."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmpilot.cli import app, main

runner = CliRunner()
COMMANDS = [
    ["init"],
    ["ingest"],
    ["index"],
    ["search"],
    ["ask"],
    ["status"],
    ["bench"],
    ["bench", "retrieval"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_init_then_status(tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "p" / "llmpilot.yaml").exists() and (tmp_path / "p" / "llmpilot.db").exists()
    status = runner.invoke(app, ["status", "-p", str(tmp_path / "p")])
    assert status.exit_code == 0 and "documents 0" in status.output


def test_user_errors_exit_2_with_a_message_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.argv", ["llmpilot", "search", "-p", str(tmp_path), "질문"])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "not an llmpilot project" in err and "llmpilot init" in err and "Traceback" not in err


def test_init_can_start_with_another_generator(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from llmpilot.cli import app
    from llmpilot.project import Project

    runner = CliRunner()
    ok = runner.invoke(app, ["init", "--generator", "extractive", str(tmp_path / "p")])
    assert ok.exit_code == 0, ok.output
    assert Project.open(tmp_path / "p").config.generator.name == "extractive"
    bad = runner.invoke(app, ["init", "--generator", "gpt-17", str(tmp_path / "q")])
    assert bad.exit_code != 0 and "not a registered generator" in f"{bad.output}{bad.exception}"
    assert not (tmp_path / "q" / "llmpilot.yaml").exists()
