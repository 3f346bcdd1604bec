"""`--set KEY=VALUE` on the command line: real projects (hashing embedder, extractive generator: no
model files), real stores, the real typer app."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from llmpilot.cli import app, main
from llmpilot.config import load_config
from llmpilot.monitoring.store import MonitorStore
from llmpilot.monitoring.versions import project_for
from llmpilot.project import Project

runner = CliRunner()
OTHER = "store=sqlite:///other.db"

#: Commands whose -p is not a project config (an eval-set folder, a results folder): nothing to override.
NO_CONFIG = {"models bench", "models report"}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A project folder (no store yet) and its documents in tmp_path/docs."""
    root = tmp_path / "proj"
    root.mkdir()
    (root / "llmpilot.yaml").write_text(
        "embedder: {name: hashing}\ngenerator: {name: extractive}\nchunking: {size: 200, overlap: 20}\n"
        "retrieval: {top_k: 3}\n",
        encoding="utf-8",
    )
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(1, 5):
        (docs / f"d{i}.txt").write_text(
            f"Battery warranty note {i}\n\nThe battery warranty lasts ten years from installation, "
            f"document {i}. Replacement is free when capacity drops.\n",
            encoding="utf-8",
        )
    return root


def _ingest(folder: Path, *sets: str) -> None:
    args = ["ingest", str(folder.parent / "docs"), "-p", str(folder), "--no-progress"]
    result = runner.invoke(app, [*args, *(a for s in sets for a in ("--set", s))])
    assert result.exit_code == 0, result.output


def test_ingest_with_a_store_override_writes_that_database_only(folder: Path) -> None:
    _ingest(folder, OTHER)
    assert (folder / "other.db").is_file()  # relative to the project, as in llmpilot.yaml
    assert not (folder / "llmpilot.db").exists()
    proj = Project.open(folder, [OTHER])
    try:
        assert proj.store.counts()["documents"] == 4
    finally:
        proj.close()
    status = runner.invoke(app, ["status", "-p", str(folder), "--set", OTHER])
    assert status.exit_code == 0 and "documents 4" in status.output, status.output


def test_search_and_ask_take_retrieval_and_answer_overrides(folder: Path) -> None:
    _ingest(folder, OTHER)
    base = ["-p", str(folder), "--set", OTHER, "--json"]
    one = runner.invoke(app, ["search", "battery warranty", *base, "--set", "retrieval.top_k=1"])
    assert one.exit_code == 0, one.output
    assert len(json.loads(one.output)) == 1
    three = runner.invoke(app, ["search", "battery warranty", *base])
    assert len(json.loads(three.output)) == 3  # the file's top_k
    asked = runner.invoke(
        app, ["ask", "How long is the battery warranty?", *base, "--set", "retrieval.top_k=1"]
    )
    assert asked.exit_code == 0, asked.output
    answer = json.loads(asked.output)
    assert len(answer["sources"]) == 1 and answer["abstained"]  # hashing scores sit below abstain_below
    answered = runner.invoke(
        app, ["ask", "How long is the battery warranty?", *base, "--set", "answer.abstain_below=0.0"]
    )
    assert json.loads(answered.output)["abstained"] is False


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (
            "retrieval.top_k=abc",
            "--set retrieval.top_k=abc: retrieval.top_k: Input should be a valid integer",
        ),
        ("foo", "--set foo: expected KEY=VALUE"),
        ("retrieval.topk=3", "--set retrieval.topk=3: retrieval.topk: Extra inputs are not permitted"),
    ],
)
def test_a_bad_set_is_a_one_line_error_not_a_traceback(
    folder: Path,
    item: str,
    expected: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("sys.argv", ["llmpilot", "search", "-p", str(folder), "--set", item, "battery"])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {expected}") and "\n" not in err and "Traceback" not in err
    assert not (folder / "llmpilot.db").exists()  # refused before anything was opened


def test_set_without_a_project_is_refused_where_the_project_is_optional(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"text": "a"}\n', encoding="utf-8")
    argv = ["llmpilot", "monitor", "drift", "--baseline", str(queries), "--current", str(queries)]
    monkeypatch.setattr("sys.argv", [*argv, "--set", "retrieval.top_k=2"])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    assert "--set overrides a project's config" in capsys.readouterr().err


def _commands(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = [(" ".join(path), command)]
    for name, sub in getattr(command, "commands", {}).items():
        found += _commands(sub, (*path, name))
    return found


def test_every_command_that_reads_a_project_or_config_takes_set() -> None:
    commands = _commands(typer.main.get_command(app))
    names = {name for name, _ in commands}
    assert names >= NO_CONFIG  # the exemptions still exist (else drop them from the list)
    missing = []
    with_config = 0
    for name, command in commands:
        opts = {opt for param in getattr(command, "params", []) for opt in getattr(param, "opts", [])}
        if "--config" in opts:
            with_config += 1
        if ("--config" in opts or ("--project" in opts and name not in NO_CONFIG)) and "--set" not in opts:
            missing.append(name)
    assert with_config >= 10  # ingest, search, ask, serve, bench retrieval, eval, cache …, guard eval, …
    assert missing == [], f"commands without --set: {missing}"


def test_serve_applies_overrides_but_the_file_stays_the_live_version(
    folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from llmpilot.serving.server import CollectionSpec, build_app
    from llmpilot.serving.state import ServeSettings

    _ingest(folder, OTHER)
    sets = (OTHER, "retrieval.top_k=1")
    with caplog.at_level(logging.WARNING, logger="llmpilot.serving"):
        application = build_app(
            [CollectionSpec(folder, overrides=sets)], ServeSettings(), warm=False, ui=False
        )
    state = application.state.llmpilot
    try:
        collection = state.collections[0]
        project = collection.pipeline.project
        assert collection.pipeline.cfg.retrieval.top_k == 1 and project.store_url.endswith("/other.db")
        live = MonitorStore(project.store).live_version()
        assert live is not None and live.config_hash == load_config(folder / "llmpilot.yaml").hash()
        warned = [r.getMessage() for r in caplog.records if "--set changes" in r.getMessage()]
        assert len(warned) == 1 and "retrieval.top_k" in warned[0] and f"version {live.id}" in warned[0]
        # A version loaded while serving (a promotion, an experiment's candidate) keeps the overrides.
        assert project_for(project, live).config.retrieval.top_k == 1
        assert project_for(project, live).overrides == sets
    finally:
        for deployment in state.deployments.values():
            deployment.close()
        state.collections[0].pipeline.project.close()


def test_serve_overrides_of_deployment_settings_do_not_warn(
    folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from llmpilot.serving.server import CollectionSpec, build_app
    from llmpilot.serving.state import ServeSettings

    _ingest(folder, OTHER)
    sets = (OTHER, "embedder.batch_size=8", "monitoring.traffic_sample=5")
    with caplog.at_level(logging.WARNING, logger="llmpilot.serving"):
        application = build_app(
            [CollectionSpec(folder, overrides=sets)], ServeSettings(), warm=False, ui=False
        )
    state = application.state.llmpilot
    try:
        assert state.collections[0].pipeline.cfg.embedder.batch_size == 8
        assert not [r for r in caplog.records if "--set" in r.getMessage()]
    finally:
        for deployment in state.deployments.values():
            deployment.close()
        state.collections[0].pipeline.project.close()


def test_eval_scores_the_config_with_the_overrides(tmp_path: Path) -> None:
    from tests.integration.test_optimize import write_dataset

    data = write_dataset(tmp_path / "tiny")
    config = tmp_path / "cfg.yaml"
    config.write_text(
        "transforms: {pii: [], dedup_near: false}\nembedder: {name: hashing}\nretrieval: {mode: hybrid}\n",
        encoding="utf-8",
    )
    args = ["eval", "--dataset", str(data), "--config", str(config), "--workdir", str(tmp_path / "work")]
    result = runner.invoke(
        app, [*args, "--out", str(tmp_path / "out"), "--no-progress", "--set", "retrieval.mode=keyword"]
    )
    assert result.exit_code == 0, result.output
    trials = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))["trials"]
    assert [t["config"]["retrieval"]["mode"] for t in trials] == ["keyword"]
