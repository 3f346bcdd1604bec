"""`llmpilot serve` refuses to start, naming what is missing, instead of starting and answering 500
on every question (a missing prompt template, a missing generator model)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from llmpilot.project import CONFIG_NAME
from tests.conftest import free_port
from tests.fixtures.serving import keyword_project


def serve(project: Path) -> subprocess.CompletedProcess[str]:
    # A port nobody listens on; a server that wrongly starts is stopped by the timeout.
    return subprocess.run(
        [sys.executable, "-m", "llmpilot", "serve", "-p", str(project), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        (("prompt", "template"), "prompts/missing.txt", "missing.txt"),
        (("generator", "model_path"), "models/nope.gguf", "nope.gguf"),
    ],
)
def test_serve_refuses_to_start_without_what_it_needs(
    tmp_path: Path, setting: tuple[str, str], value: str, named: str
) -> None:
    built = keyword_project(tmp_path)
    project = built.root
    config_file = project / CONFIG_NAME
    cfg = yaml.safe_load(built.config.to_yaml())
    built.close()
    cfg.setdefault(setting[0], {})[setting[1]] = value
    config_file.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    try:
        proc = serve(project)
    except subprocess.TimeoutExpired:
        pytest.fail("serve started with a broken config (it should refuse at once)")
    assert proc.returncode == 2, proc.stderr
    assert named in proc.stderr and "cannot serve" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "serving on" not in proc.stderr
