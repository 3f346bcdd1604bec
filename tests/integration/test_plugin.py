"""A real plugin, for real: tests/plugin_example is installed (pip, its own pyproject.toml, the
`llmpilot.components` entry point) into a temporary folder, never into the venv, and the real CLI
runs in subprocesses with that folder on PYTHONPATH: init, ingest, search and optimize with
`chunking.method: paragraph`. The plugin's own test suite (llmpilot.testing's chunker contract)
runs there too."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from llmpilot.config import parse_config
from llmpilot.errors import ConfigError

PLUGIN = Path(__file__).resolve().parents[1] / "plugin_example"
#: Offline, without build isolation (setuptools comes from the venv) and without its dependency
#: llmpilot (already installed), so the package only lands in the --target folder.
PIP_INSTALL = [
    sys.executable,
    "-m",
    "pip",
    "install",
    "--quiet",
    "--no-deps",
    "--no-build-isolation",
    "--no-index",
]

# Every document: two short paragraphs. The built-in recursive chunker packs both into one chunk
# (they fit its size); the plugin's paragraph chunker makes one chunk per paragraph.
DOCS = {
    "warranty": (
        "Battery warranty",
        "The battery warranty lasts ten years.",
        "Claims go through the dealer.",
    ),
    "install": ("Installation", "Installation takes one day.", "A licensed electrician does the wiring."),
    "returns": ("Returns", "Returns are accepted within thirty days.", "Refunds arrive in two weeks."),
    "charge": ("충전", "완전 충전에는 세 시간이 걸립니다.", "급속 충전기는 별도로 판매합니다."),
    "noise": ("소음", "작동 소음은 사십 데시벨 이하입니다.", "야간 모드에서는 더 조용합니다."),
}
QUERIES = {
    "warranty": "How long does the battery warranty last?",
    "install": "How long does installation take?",
    "returns": "Until when are returns accepted?",
    "charge": "완전 충전에는 얼마나 걸리나요?",
    "noise": "작동 소음은 얼마인가요?",
}


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("plugin-site")
    build = tmp_path_factory.mktemp("plugin-build")
    # A copy: building in place would leave build/ and *.egg-info/ in the source tree.
    subprocess.run(["cp", "-r", str(PLUGIN), str(build / "src")], check=True)
    subprocess.run(
        [*PIP_INSTALL, "--target", str(target), str(build / "src")],
        check=True,
    )
    assert (target / "llmpilot_paragraph").is_dir()
    [dist_info] = target.glob("llmpilot_paragraph-*.dist-info")
    assert "llmpilot.components" in (dist_info / "entry_points.txt").read_text(encoding="utf-8")
    return target


def env_with(plugin_path: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if plugin_path is not None:
        env["PYTHONPATH"] = str(plugin_path)
    return env


def cli(args: list[str], cwd: Path, plugin_path: Path | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmpilot", *args],
        cwd=cwd,
        env=env_with(plugin_path),
        capture_output=True,
        text=True,
        timeout=300,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (
        f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result.stdout


def write_docs(folder: Path) -> list[str]:
    folder.mkdir()
    paragraphs = []
    for name, (title, first, second) in DOCS.items():
        (folder / f"{name}.md").write_text(f"# {title}\n\n{first}\n\n{second}\n", encoding="utf-8")
        paragraphs += [f"# {title}", first, second]
    return paragraphs


def write_dataset(folder: Path) -> Path:
    folder.mkdir()
    corpus = [{"id": d, "title": t, "text": f"{a}\n\n{b}"} for d, (t, a, b) in DOCS.items()]
    queries = [{"id": f"q-{d}", "text": q} for d, q in QUERIES.items()]
    qrels = [{"query_id": f"q-{d}", "doc_id": d, "score": 1} for d in QUERIES]
    for name, rows in (("corpus", corpus), ("queries", queries), ("qrels", qrels)):
        (folder / f"{name}.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
        )
    return folder


def test_unknown_chunker_lists_the_registered_ones() -> None:
    # In this process the plugin is not installed: the config names the field and the known chunkers.
    with pytest.raises(
        ConfigError, match=r"chunking\.method: unknown chunker 'paragraph'; registered: fixed"
    ):
        parse_config({"chunking": {"method": "paragraph"}})


def test_plugin_chunker_through_init_ingest_search(plugin_path: Path, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    ok(cli(["init", str(project)], tmp_path, plugin_path))
    config_file = project / "llmpilot.yaml"
    cfg = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    cfg["chunking"]["method"] = "paragraph"
    cfg["embedder"]["name"] = "hashing"  # model-free: this test is about chunking
    config_file.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    paragraphs = write_docs(tmp_path / "docs")

    # Without the plugin on the path the same project fails cleanly, naming field and known names.
    failed = cli(["ingest", "-p", str(project), str(tmp_path / "docs")], tmp_path, None)
    assert failed.returncode == 2
    assert (
        "chunking.method: unknown chunker 'paragraph'; registered: fixed, recursive, sentence"
        in failed.stderr
    )
    assert "Traceback" not in failed.stderr

    ok(cli(["ingest", "-p", str(project), str(tmp_path / "docs")], tmp_path, plugin_path))
    out = ok(
        cli(["search", "-p", str(project), "--json", "-k", "50", "battery warranty"], tmp_path, plugin_path)
    )
    hits = json.loads(out)
    # Every chunk is exactly one paragraph: the recursive default would have one chunk per file.
    assert len(hits) == len(paragraphs) == 3 * len(DOCS)
    assert sorted(h["text"] for h in hits) == sorted(paragraphs)
    assert "warranty" in hits[0]["doc_id"]


def test_plugin_chunker_in_optimize(plugin_path: Path, tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "plugds")
    space = {
        "transforms": {"pii": [], "dedup_exact": False, "dedup_near": False},
        "chunking": {"method": ["paragraph", "recursive"], "size": 400, "overlap": 0},
        "embedder": {"name": "hashing"},
        "retrieval": {"mode": "keyword", "top_k": 3},
    }
    (tmp_path / "space.yaml").write_text(yaml.safe_dump(space, allow_unicode=True), encoding="utf-8")
    args = ["optimize", "--dataset", str(data), "--space", str(tmp_path / "space.yaml")]
    args += ["--out", str(tmp_path / "out"), "--strategy", "grid", "--workdir", str(tmp_path / "work")]
    ok(cli([*args, "--no-progress"], tmp_path, plugin_path))

    results = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    methods = sorted(json.dumps(t) for t in results["trials"] if "paragraph" in json.dumps(t))
    assert methods, "no trial used the paragraph chunker"
    # The work store holds both chunk sets: the plugin's has one chunk per paragraph.
    with sqlite3.connect(tmp_path / "work" / "plugds" / "bench.db") as db:
        sets = {
            chunk_set: sorted(
                t for (t,) in db.execute("SELECT text FROM chunks WHERE chunk_set = ?", (chunk_set,))
            )
            for (chunk_set,) in db.execute("SELECT DISTINCT chunk_set FROM chunks")
        }
    paragraphs = sorted(p for _t, a, b in DOCS.values() for p in (a, b))
    assert sorted(len(texts) for texts in sets.values()) == [len(DOCS), 2 * len(DOCS)]
    assert paragraphs in sets.values()


def test_plugin_runs_the_contract_suite(plugin_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(PLUGIN / "tests")],
        cwd=PLUGIN,
        env=env_with(plugin_path),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout
