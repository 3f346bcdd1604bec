"""Loaders: JSONL and CSV; every bad row reported with its line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmpilot.cache.pairs import load_negatives, load_pairs
from llmpilot.errors import DatasetError, LlmpilotError


def test_jsonl_and_csv_load(tmp_path: Path) -> None:
    jsonl = tmp_path / "pairs.jsonl"
    jsonl.write_text(
        json.dumps({"id": 1, "origin": "환불 기간은?", "similar": "환불은 며칠 안에?"}, ensure_ascii=False)
        + "\n\n",
        encoding="utf-8",
    )
    pairs = load_pairs(jsonl)
    assert pairs[0].id == "1" and pairs[0].similar == "환불은 며칠 안에?"
    csv_file = tmp_path / "neg.csv"
    csv_file.write_text('id,a,b,kind\nn1,"Is it 3, or?",Is it 5?,number\nn2,a,b,\n', encoding="utf-8")
    negs = load_negatives(csv_file)
    assert [(n.id, n.a, n.kind) for n in negs] == [("n1", "Is it 3, or?", "number"), ("n2", "a", None)]


def test_bad_rows_are_all_named_with_line_and_field(tmp_path: Path) -> None:
    f = tmp_path / "neg.jsonl"
    lines = [
        json.dumps({"id": "1", "a": "x", "b": "y"}),
        "{not json",
        json.dumps({"id": "2", "a": "x"}),
        json.dumps({"id": "1", "a": "x", "b": "y"}),
        json.dumps(["a", "b"]),
        json.dumps({"id": "3", "a": "", "b": 5}),
    ]
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DatasetError) as err:
        load_negatives(f)
    msg = str(err.value)
    assert isinstance(err.value, LlmpilotError)
    assert str(f) in msg and "5 bad negatives row(s)" in msg
    assert "line 2: not JSON" in msg
    assert "line 3: field 'b' is missing" in msg
    assert "line 4: field 'id' '1' repeats line 1" in msg
    assert "line 5: expected an object" in msg
    assert "line 6: field 'a' is empty or not text; field 'b' is empty or not text" in msg


def test_many_bad_rows_are_cut_after_ten(tmp_path: Path) -> None:
    f = tmp_path / "p.jsonl"
    f.write_text("\n".join(json.dumps({"id": str(i)}) for i in range(25)) + "\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"and 15 more") as err:
        load_pairs(f)
    assert "line 10:" in str(err.value) and "line 11:" not in str(err.value)


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file"):
        load_pairs(tmp_path / "nope.jsonl")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="no pairs rows"):
        load_pairs(empty)
