"""`llmpilot eval`, `optimize` and `bench retrieval` with an empty corpus, queries or qrels file:
a clean error (exit 2) that names the file and says what to add, raised before any trial runs —
not a ValueError traceback after every trial (optimize) or from the metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from llmpilot.cli import main
from tests.integration.test_optimize import SPACE, write_dataset

#: What each message must say besides the file's path.
HINTS = {
    "corpus.jsonl": "no documents",
    "queries.jsonl": "no queries",
    "qrels.jsonl": "no relevance judgments",
}


def run_cli(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    """The real entry point (`main`, which turns LlmpilotError into a message); returns stderr."""
    monkeypatch.setattr("sys.argv", ["llmpilot", *args])
    with pytest.raises(SystemExit) as exc:
        main()
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    assert "Traceback" not in err and "ValueError" not in err
    return " ".join(err.split())  # rich wraps long lines


def command(name: str, data: Path, tmp_path: Path) -> list[str]:
    work = ["--workdir", str(tmp_path / "work")]
    if name == "bench":
        config = tmp_path / "config.yaml"
        config.write_text(yaml.safe_dump({"retrieval": {"mode": "keyword"}}), encoding="utf-8")
        return ["bench", "retrieval", "--dataset", str(data), "--config", str(config), *work]
    out = ["--out", str(tmp_path / "out"), *work, "--no-progress"]
    if name == "eval":
        config = tmp_path / "config.yaml"
        config.write_text(yaml.safe_dump({"retrieval": {"mode": "keyword"}}), encoding="utf-8")
        return ["eval", "--dataset", str(data), "--config", str(config), *out]
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(SPACE, allow_unicode=True), encoding="utf-8")
    return ["optimize", "--dataset", str(data), "--space", str(space), "--strategy", "grid", *out]


#: Files emptied together: the first one (in load order) must be the one named. With the qrels kept,
#: an empty corpus or queries file used to be blamed on the qrels ("unknown doc_id"); with the
#: qrels emptied too, it failed with a ValueError (or KeyError) after the trials.
CASES = [
    ("corpus.jsonl",),
    ("corpus.jsonl", "qrels.jsonl"),
    ("queries.jsonl",),
    ("queries.jsonl", "qrels.jsonl"),
    ("qrels.jsonl",),
]


@pytest.mark.parametrize("name", ["eval", "optimize", "bench"])
@pytest.mark.parametrize("emptied", CASES, ids="+".join)
def test_an_empty_dataset_file_is_named_before_any_trial(
    name: str,
    emptied: tuple[str, ...],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = write_dataset(tmp_path / "tiny")
    for file in emptied:
        (data / file).write_bytes(b"")  # 0 bytes
    err = run_cli(command(name, data, tmp_path), monkeypatch, capsys)
    named = emptied[0]
    assert f"{data / named}: {HINTS[named]}" in err, err
    assert "add one JSON object per line" in err  # and what to do about it
    # Nothing was built: no work store for the dataset, no trial, no output.
    assert not (tmp_path / "work" / "tiny").exists()
    assert not (tmp_path / "out").exists()


def test_qrels_that_judge_no_listed_query_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_dataset(tmp_path / "tiny")
    rows = [json.loads(line) for line in (data / "qrels.jsonl").read_text(encoding="utf-8").splitlines()]
    (data / "qrels.jsonl").write_text(
        "".join(json.dumps({**r, "query_id": f"other-{r['query_id']}"}) + "\n" for r in rows),
        encoding="utf-8",
    )
    err = run_cli(command("optimize", data, tmp_path), monkeypatch, capsys)
    assert f"{data / 'qrels.jsonl'}:1: unknown query_id 'other-qko-0'" in err, err
    assert not (tmp_path / "work" / "tiny").exists()


def test_empty_queries_with_judgments_name_the_queries_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Blank lines only: still no query. The qrels are fine; the message must not blame them.
    data = write_dataset(tmp_path / "tiny")
    (data / "queries.jsonl").write_text("\n \n", encoding="utf-8")
    err = run_cli(command("eval", data, tmp_path), monkeypatch, capsys)
    assert f"{data / 'queries.jsonl'}: no queries" in err and "unknown query_id" not in err, err
