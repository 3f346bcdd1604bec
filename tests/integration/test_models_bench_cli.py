"""`llmpilot models bench` end to end on a real model: SmolLM2-135M on four MMLU items through typer's
CliRunner (the command mounted on a small app of its own until it is registered under `models`); the JSON
has the issue's keys, the per-item file is there, and a second run resumes without scoring again. Bad
input is a one-line error before any model loads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from llmpilot.errors import DatasetError
from llmpilot.models.cli_bench import bench_command

pytestmark = pytest.mark.slow

app = typer.Typer()
app.command("bench")(bench_command)


@app.command("version")
def _version() -> None:
    """A second command, so typer keeps `bench` as a subcommand as it will be under `llmpilot models`."""


runner = CliRunner()
ISSUE_KEYS = {"accuracy", "accuracy_norm", "ci", "n", "by_subject", "seconds", "tokens_per_s"}


def _bench(tmp_path: Path) -> tuple[dict[str, Any], str]:
    out = tmp_path / "out"
    options = ["--models", "smollm2-135m", "--benchmark", "mmlu-en", "--limit", "4", "--threads", "2"]
    result = runner.invoke(app, ["bench", *options, "--json", str(tmp_path / "r.json"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return json.loads((tmp_path / "r.json").read_text(encoding="utf-8")), result.output


def test_models_bench_runs_smollm2_on_four_mmlu_items_and_resumes(tmp_path: Path) -> None:
    summary, output = _bench(tmp_path)
    assert summary["benchmark"] == "mmlu-en" and summary["n"] == 4
    models = summary["models"]
    assert isinstance(models, dict) and list(models) == ["smollm2-135m"]
    entry = models["smollm2-135m"]
    assert set(entry) >= ISSUE_KEYS
    assert entry["n"] == 4 and 0.0 <= entry["accuracy"] <= 1.0 and entry["seconds"] > 0
    assert entry["ci"][0] <= entry["accuracy"] <= entry["ci"][1]
    assert sum(s["n"] for s in entry["by_subject"].values()) == 4 and len(entry["by_subject"]) == 4
    assert entry["model_bytes"] > 10_000_000 and entry["tokens_per_s"] > 0
    assert "smollm2-135m" in output and "acc [95% CI]" in output
    [items] = (tmp_path / "out" / "items").glob("*.mmlu-en.jsonl")
    assert len(items.read_text(encoding="utf-8").splitlines()) == 5  # the settings key and four items

    before = items.read_text(encoding="utf-8")
    again, _ = _bench(tmp_path)
    assert items.read_text(encoding="utf-8") == before  # nothing rescored
    assert again["models"]["smollm2-135m"]["accuracy"] == entry["accuracy"]


def test_models_bench_reports_bad_rows_before_loading_a_model(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("id,question,choice1,choice2,answer\na,Q,x,y,7\n", encoding="utf-8")
    result = runner.invoke(
        app, ["bench", "--models", "no-such-model", "--benchmark", str(bad), "--out", str(tmp_path)]
    )
    assert isinstance(result.exception, DatasetError)  # llmpilot's main prints it as one line
    assert "line 2, field 'answer': '7' is out of range for 2 choices" in str(result.exception)
