"""`llmpilot keys` and `llmpilot serve` wiring through the CLI (the library is tested elsewhere)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmpilot.cli import app
from llmpilot.errors import LlmpilotError
from llmpilot.project import Project
from llmpilot.serving.server import parse_mount, parse_rate
from llmpilot.store.serving import ServingStore

runner = CliRunner()


def test_serve_and_keys_have_help() -> None:
    for command in (["serve"], ["keys"], ["keys", "create"], ["keys", "list"], ["keys", "revoke"]):
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output, result.output
    text = runner.invoke(app, ["serve", "--help"], terminal_width=200).output
    for option in ("--host", "--port", "--cors-origin", "--rate-limit", "--max-body-bytes", "--tenant"):
        assert option in text


def test_keys_create_list_revoke(tmp_path: Path) -> None:
    Project.init(tmp_path / "p")
    created = runner.invoke(
        app,
        ["keys", "create", "--tenant", "acme", "--role", "admin", "--name", "ops", "-p", str(tmp_path / "p")],
    )
    assert created.exit_code == 0, created.output
    key = next(line for line in created.stdout.splitlines() if line.startswith("lp_"))
    store = ServingStore(Project.open(tmp_path / "p").store)
    found = store.key_for_secret(key)
    assert found is not None and (found.tenant, found.role, found.name) == ("acme", "admin", "ops")

    listed = runner.invoke(app, ["keys", "list", "-p", str(tmp_path / "p")], terminal_width=200)
    assert listed.exit_code == 0 and "acme" in listed.output and "ops" in listed.output
    assert key not in listed.output  # never shown again

    revoked = runner.invoke(app, ["keys", "revoke", str(found.id), "-p", str(tmp_path / "p")])
    assert revoked.exit_code == 0 and "revoked key" in revoked.output
    again = store.key_for_secret(key)
    assert again is not None and again.revoked


def test_bad_serve_options_are_clear_errors() -> None:
    assert parse_rate("60/min") == 60 and parse_rate("0") == 0
    with pytest.raises(LlmpilotError, match="--rate-limit"):
        parse_rate("fast")
    spec = parse_mount("acme/manuals=/srv/p")
    assert (spec.tenant, spec.name, spec.location) == ("acme", "manuals", Path("/srv/p"))
    with pytest.raises(LlmpilotError, match="--collection"):
        parse_mount("no-path")
