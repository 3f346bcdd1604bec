"""The multiple-choice benchmark loader: packaged files, JSONL and CSV, every bad row in one error with
its line and field, and the stratified --limit."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest

from llmpilot.errors import DatasetError
from llmpilot.models.mc_data import BUILTIN_BENCHMARKS, load_benchmark, stratified_sample
from llmpilot.models.types import MCItem

SHA256 = {
    "mmlu-en.jsonl": "5d1c77e23949d24fd56689f0e01acd6fab223287ab3dd4ec6d606ea9601abfb6",
    "kobest-hellaswag-ko.jsonl": "a59e76f802aac8c87725fe3cdc267693d9c7cb0b0c0b70a0e10d07487bb8a1a6",
}


def _row(i: int, **over: object) -> str:
    row = {
        "id": f"q{i}",
        "subject": "s",
        "question": f"Question {i}?",
        "choices": ["a", "b", "c", "d"],
        "answer": 1,
        "lang": "en",
    }
    row.update(over)
    return json.dumps(row, ensure_ascii=False)


def test_packaged_files_are_the_documented_bytes() -> None:
    for builtin in BUILTIN_BENCHMARKS.values():
        data = resources.files("llmpilot.models.data").joinpath(builtin.file).read_bytes()
        assert hashlib.sha256(data).hexdigest() == SHA256[builtin.file]


def test_packaged_benchmarks_load_with_their_formats() -> None:
    mmlu = load_benchmark("mmlu-en")
    assert (mmlu.name, mmlu.format, len(mmlu.items)) == ("mmlu-en", "letters", 500)
    assert len({i.subject for i in mmlu.items}) == 20
    assert "MIT" in mmlu.source
    ko = load_benchmark("kobest-hellaswag-ko")
    assert (ko.format, len(ko.items), ko.items[0].lang) == ("continuation", 250, "ko")
    assert "CC BY-SA 4.0" in ko.source
    assert load_benchmark("mmlu-en", fmt="continuation").format == "continuation"


def test_jsonl_file_with_letter_answers_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    path.write_text(
        _row(1, answer="C")
        + "\n\n"
        + json.dumps({"id": 7, "question": "Q?", "choices": ["x", "y"], "answer": 0}),
        encoding="utf-8",
    )
    bench = load_benchmark(str(path))
    assert bench.name == "mine" and bench.format == "letters" and bench.source == str(path.resolve())
    assert bench.items[0].answer == 2
    assert bench.items[1] == MCItem("7", "all", "Q?", ("x", "y"), 0, "und")


def test_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + (_row(1) + "\n" + _row(2) + "\n").encode())
    assert [i.id for i in load_benchmark(str(path)).items] == ["q1", "q2"]
    csv_path = tmp_path / "bom.csv"
    csv_path.write_bytes(b"\xef\xbb\xbfid,question,choice1,choice2,answer\nx,Q?,a,b,B\n")
    assert load_benchmark(str(csv_path)).items[0].answer == 1


def test_every_bad_jsonl_row_in_one_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    lines = [
        _row(1),
        _row(2, answer=4),  # out of range
        _row(3, choices=["only"]),  # fewer than 2 choices
        _row(1),  # duplicate id
        "{not json",
        _row(5, question=""),
        _row(6, answer="Z"),
        _row(7, answer=True),
        json.dumps([1, 2]),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DatasetError) as err:
        load_benchmark(str(path))
    message = str(err.value)
    assert "8 bad row(s)" in message
    for expected in (
        "line 2, field 'answer': 4 is out of range for 4 choices",
        "line 3, field 'choices': needs at least 2 choices, got 1",
        "line 4, field 'id': duplicate id 'q1' (first on line 1)",
        "line 5: not valid JSON",
        "line 6, field 'question': missing or empty",
        "line 7, field 'answer': 'Z' is out of range",
        "line 8, field 'answer': must be a 0-based index or a letter",
        "line 9: expected a JSON object",
    ):
        assert f"{path}:{expected}" in message, expected


def test_non_utf8_lines_are_named(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes((_row(1) + "\n").encode() + _row(2, question="café").encode("latin-1") + b"\n")
    with pytest.raises(DatasetError, match=r"latin1.jsonl:line 2: not UTF-8 \(byte \d+ of the line\)"):
        load_benchmark(str(path))


def test_csv_json_list_and_numbered_columns(tmp_path: Path) -> None:
    listed = tmp_path / "listed.csv"
    listed.write_text(
        'id,subject,question,choices,answer,lang\na,geo,"Capital of\nFrance?","[""Paris"", ""Rome""]",0,en\n',
        encoding="utf-8",
    )
    item = load_benchmark(str(listed)).items[0]
    assert (item.question, item.choices, item.answer) == ("Capital of\nFrance?", ("Paris", "Rome"), 0)

    numbered = tmp_path / "numbered.csv"
    numbered.write_text(
        "id,subject,question,choice1,choice2,choice3,answer,lang\n"
        "a,s,Q1,x,y,z,2,ko\n"
        "b,s,Q2,x,y,,A,ko\n",  # an empty trailing cell: a 2-choice row
        encoding="utf-8",
    )
    items = load_benchmark(str(numbered)).items
    assert [(i.choices, i.answer) for i in items] == [(("x", "y", "z"), 2), (("x", "y"), 0)]


def test_csv_errors_name_the_physical_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "id,subject,question,choices,answer,lang\n"
        'a,s,"two\nlines",["x","y"],1,en\n'  # lines 2-3; unquoted JSON: split at its comma
        'b,s,Q,"[""x"", ""y""]",5,en\n'  # line 4
        'a,s,Q,"[""x"", ""y""]",0,en\n',  # line 5: duplicate id
        encoding="utf-8",
    )
    with pytest.raises(DatasetError) as err:
        load_benchmark(str(path))
    message = str(err.value)
    assert f"{path}:line 2: 7 cells but the header has 6 columns" in message
    assert f"{path}:line 4, field 'answer': '5' is out of range" in message
    assert "line 5" not in message  # the first 'a' was bad, so the second is not a duplicate
    assert "2 bad row(s)" in message


def test_csv_choices_cell_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "notjson.csv"
    path.write_text("id,question,choices,answer\na,Q,Paris;Rome,0\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="line 2, field 'choices': must be a JSON list"):
        load_benchmark(str(path))


def test_csv_without_choice_columns(tmp_path: Path) -> None:
    path = tmp_path / "nochoices.csv"
    path.write_text("id,question,answer\na,Q,0\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="line 1, field 'choices': the header needs"):
        load_benchmark(str(path))


def test_missing_file_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file and not a packaged benchmark; use one of mmlu-en"):
        load_benchmark(str(tmp_path / "nope.jsonl"))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="the file is empty"):
        load_benchmark(str(empty))
    with pytest.raises(DatasetError, match="--limit must be at least 1"):
        load_benchmark("mmlu-en", limit=0)


def test_limit_is_stratified_seeded_and_in_file_order() -> None:
    full = load_benchmark("mmlu-en")
    sample = load_benchmark("mmlu-en", limit=40)
    assert len(sample.items) == 40
    assert set(Counter(i.subject for i in sample.items).values()) == {2}  # 20 subjects x 25: 2 each
    assert sample == load_benchmark("mmlu-en", limit=40)  # deterministic
    order = {item.id: n for n, item in enumerate(full.items)}
    assert [order[i.id] for i in sample.items] == sorted(order[i.id] for i in sample.items)
    assert sample.items != full.items[:40]  # not the first N (those are 25 + 15 of two subjects)
    assert len(load_benchmark("mmlu-en", limit=10_000).items) == 500


def test_stratified_sample_is_proportional_with_largest_remainder() -> None:
    items = [
        MCItem(f"{s}{i}", s, "q", ("a", "b"), 0, "en")
        for s, n in (("a", 60), ("b", 30), ("c", 10))
        for i in range(n)
    ]
    counts = Counter(i.subject for i in stratified_sample(items, 10))
    assert counts == {"a": 6, "b": 3, "c": 1}
    counts = Counter(i.subject for i in stratified_sample(items, 15))  # 9, 4.5, 1.5: one .5 gets the rest
    assert counts["a"] == 9 and counts["b"] + counts["c"] == 6 and counts["b"] in (4, 5)
    assert stratified_sample(items, 15, seed=1) != stratified_sample(items, 15, seed=2)
