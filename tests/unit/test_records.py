"""The one reader of user-labelled rows (llmpilot.records): line numbers, bad lines kept in place,
and a leading byte-order mark (Excel's "CSV UTF-8", Windows Notepad) ignored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmpilot.errors import DatasetError
from llmpilot.records import read_records


def test_a_byte_order_mark_does_not_rename_the_first_csv_column(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_bytes("\ufeffprompt,completion\n질문,답\n".encode())
    records = read_records(path)
    assert records.header == ["prompt", "completion"]
    assert records.rows == [(2, {"prompt": "질문", "completion": "답"})]


def test_a_byte_order_mark_does_not_break_the_first_json_line(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes('\ufeff{"a": 1}\n\nnot json\n{"b": "\u2028"}\n'.encode())
    rows = read_records(path).rows
    assert rows[0] == (1, {"a": 1})
    assert rows[1][0] == 3 and isinstance(rows[1][1], json.JSONDecodeError)
    assert rows[2] == (4, {"b": "\u2028"})


def test_a_file_that_is_not_utf8_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "cp949.csv"
    path.write_bytes("prompt,completion\n질문,답\n".encode("cp949"))
    with pytest.raises(DatasetError, match=r"cp949\.csv"):
        read_records(path)
