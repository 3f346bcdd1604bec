import json
from pathlib import Path

import pytest

from llmpilot.errors import DatasetError
from llmpilot.evaluation.datasets import load_dataset

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def write(folder: Path, name: str, rows: list[object] | str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = (
        rows if isinstance(rows, str) else "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n"
    )
    (folder / name).write_text(text, encoding="utf-8")


def good(folder: Path) -> None:
    write(
        folder,
        "corpus.jsonl",
        [{"id": "d1", "title": "", "text": "은행 인가 요건"}, {"id": "d2", "text": "x"}],
    )
    write(folder, "queries.jsonl", [{"id": "q1", "text": "인가 요건은?", "answers": ["자본금"]}])
    write(folder, "qrels.jsonl", [{"query_id": "q1", "doc_id": "d1", "score": 1}])


def test_loads_a_valid_folder(tmp_path: Path) -> None:
    good(tmp_path)
    ds = load_dataset(tmp_path)
    assert [d.id for d in ds.corpus] == ["d1", "d2"]
    assert ds.queries[0].answers == ["자본금"]
    assert ds.qrels == {"q1": {"d1": 1}}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "corpus.jsonl",
            '{"id": "d1", "text": "a"}\n{"id": "d2", "text": \n',
            r"corpus.jsonl:2: not valid JSON",
        ),
        ("corpus.jsonl", '{"id": "d1"}\n', r"corpus.jsonl:1: missing field 'text'"),
        (
            "corpus.jsonl",
            '{"id": "d1", "text": "a"}\n{"id": "d1", "text": "b"}\n',
            r"corpus.jsonl:2: duplicate",
        ),
        ("queries.jsonl", '{"id": "q1", "text": ""}\n', r"queries.jsonl:1: field 'text' is empty"),
        ("qrels.jsonl", '{"query_id": "q1", "doc_id": "nope"}\n', r"qrels.jsonl:1: unknown doc_id 'nope'"),
        ("qrels.jsonl", '{"query_id": "q9", "doc_id": "d1"}\n', r"qrels.jsonl:1: unknown query_id 'q9'"),
    ],
)
def test_malformed_rows_are_reported_with_file_and_line(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    good(tmp_path)
    write(tmp_path, name, content)
    with pytest.raises(DatasetError, match=message):
        load_dataset(tmp_path)


def test_broken_encoding_is_reported(tmp_path: Path) -> None:
    good(tmp_path)
    (tmp_path / "queries.jsonl").write_bytes('{"id": "q1", "text": "인가"}\n'.encode("cp949"))
    with pytest.raises(DatasetError, match="not UTF-8"):
        load_dataset(tmp_path)


@pytest.mark.skipif(not (SHARED / "autorag-ko").exists(), reason="shared data not beside the repo")
def test_loads_the_shared_korean_dataset() -> None:
    ds = load_dataset(SHARED / "autorag-ko")
    assert len(ds.corpus) == 720 and len(ds.queries) == 114
    assert all(len(rel) == 1 for rel in ds.qrels.values())
