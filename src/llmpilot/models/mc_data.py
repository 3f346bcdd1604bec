"""Multiple-choice benchmark files → a `Benchmark`: the two packaged samples or the user's JSONL/CSV.

Every bad row is collected and reported in one `DatasetError` (file, line, field, what to do) before any
model loads, so a user fixes the file once rather than once per run. `limit` draws a seeded sample
stratified by subject instead of the first N rows: the packaged MMLU file is sorted by subject, so the
first N would all be abstract algebra and `by_subject` would say nothing.

File forms (one documented form each):

- JSONL: one object per line, `{"id", "subject", "question", "choices": [...], "answer", "lang"}`.
- CSV (header row, UTF-8): columns `id, subject, question, answer, lang` and the choices either in one
  `choices` column holding a JSON list (`["Paris", "Rome"]`) or in columns `choice1 … choiceN` (empty
  trailing cells allowed, so rows may have different numbers of choices).

`answer` is a 0-based index into the choices or a letter (`A` = the first choice). `subject` and `lang`
may be left out (`"all"` and `"und"`). Blank lines are skipped; a UTF-8 byte-order mark is accepted.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from llmpilot.errors import DatasetError
from llmpilot.models.types import Benchmark, MCItem, PromptFormat

DEFAULT_SUBJECT = "all"
DEFAULT_LANG = "und"
#: Errors listed in one message before "… and N more": enough to see the pattern, short enough to read.
MAX_LISTED_ERRORS = 20
#: The seed of the stratified sample behind `limit` (fixed so two runs with one limit score one sample).
SAMPLE_SEED = 0


@dataclass(frozen=True)
class BuiltinBenchmark:
    file: str
    format: PromptFormat
    licence: str


BUILTIN_BENCHMARKS: dict[str, BuiltinBenchmark] = {
    "mmlu-en": BuiltinBenchmark(
        "mmlu-en.jsonl", "letters", "MMLU test sample, 20 subjects x 25, MIT (c) 2020 Dan Hendrycks"
    ),
    "kobest-hellaswag-ko": BuiltinBenchmark(
        "kobest-hellaswag-ko.jsonl",
        "continuation",
        "KoBEST HellaSwag test sample (Kim et al., COLING 2022), CC BY-SA 4.0",
    ),
}


class _Problems:
    """Collects row errors; `raise_if_any` turns them into one message."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: list[str] = []

    def add(self, line: int, field: str | None, message: str) -> None:
        where = f"line {line}" + (f", field {field!r}" if field else "")
        self.lines.append(f"{self.path}:{where}: {message}")

    def raise_if_any(self) -> None:
        if not self.lines:
            return
        shown = self.lines[:MAX_LISTED_ERRORS]
        more = len(self.lines) - len(shown)
        tail = f"\n  … and {more} more" if more else ""
        raise DatasetError(
            f"{self.path}: {len(self.lines)} bad row(s) in the benchmark file; fix them and run again "
            f"(format: see `llmpilot models bench --help`):\n  " + "\n  ".join(shown) + tail
        )


def load_benchmark(
    spec: str, *, limit: int | None = None, fmt: PromptFormat | None = None, seed: int = SAMPLE_SEED
) -> Benchmark:
    """A packaged benchmark by name (`mmlu-en`, `kobest-hellaswag-ko`) or a .jsonl/.csv file.

    `fmt` overrides the prompt format (packaged files know theirs; a user's file defaults to
    "letters", MMLU-style). `limit` keeps a deterministic sample of that many items, stratified by
    subject (proportional allocation, seeded), in file order."""
    if limit is not None and limit < 1:
        raise DatasetError(f"--limit must be at least 1 (got {limit})")
    builtin = BUILTIN_BENCHMARKS.get(spec)
    if builtin is not None:
        text = resources.files("llmpilot.models.data").joinpath(builtin.file).read_bytes()
        path = Path(builtin.file)
        name, source, default_fmt = (
            spec,
            f"llmpilot package data {builtin.file} ({builtin.licence})",
            builtin.format,
        )
    else:
        path = Path(spec)
        if not path.is_file():
            raise DatasetError(
                f"benchmark {spec!r}: no such file and not a packaged benchmark; use one of "
                f"{', '.join(BUILTIN_BENCHMARKS)} or a .jsonl/.csv file"
            )
        text = path.read_bytes()
        name, source, default_fmt = path.stem, str(path.resolve()), "letters"
    items = parse_items(path, text)
    if limit is not None:
        items = stratified_sample(items, limit, seed=seed)
    return Benchmark(name=name, items=tuple(items), format=fmt or default_fmt, source=source)


def parse_items(path: Path, data: bytes) -> list[MCItem]:
    """Items from the bytes of a JSONL or CSV file (by suffix; anything not .csv is read as JSONL)."""
    problems = _Problems(path)
    lines = _decode_lines(data, problems)
    problems.raise_if_any()  # undecodable lines make every later message unreliable
    rows = _csv_rows(lines, problems) if path.suffix.lower() == ".csv" else _jsonl_rows(lines, problems)
    items: list[MCItem] = []
    first_line: dict[str, int] = {}
    for line, row in rows:
        item = _item(row, line, problems)
        if item is None:
            continue
        if item.id in first_line:
            problems.add(line, "id", f"duplicate id {item.id!r} (first on line {first_line[item.id]})")
            continue
        first_line[item.id] = line
        items.append(item)
    if not items and not problems.lines:
        problems.add(1, None, "no items: the file is empty")
    problems.raise_if_any()
    return items


def _decode_lines(data: bytes, problems: _Problems) -> list[str]:
    """UTF-8 lines (BOM dropped); each line that is not UTF-8 is reported with its number."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines: list[str] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            lines.append(raw.decode("utf-8").rstrip("\r"))
        except UnicodeDecodeError as exc:
            problems.add(
                number, None, f"not UTF-8 (byte {exc.start + 1} of the line); save the file as UTF-8"
            )
            lines.append("")
    return lines


def _jsonl_rows(lines: Sequence[str], problems: _Problems) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.add(number, None, f"not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(row, dict):
            problems.add(number, None, f"expected a JSON object, got {type(row).__name__}")
            continue
        yield number, row


def _csv_rows(lines: Sequence[str], problems: _Problems) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.reader(io.StringIO("\n".join(lines)))
    header: list[str] | None = None
    choice_columns: list[int] = []
    start = 1  # physical line where the current record begins (records may span lines)
    for record in reader:
        line, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in record):
            continue
        if header is None:
            header = [cell.strip() for cell in record]
            choice_columns = _choice_columns(header, line, problems)
            continue
        if len(record) > len(header):
            problems.add(
                line,
                None,
                f"{len(record)} cells but the header has {len(header)} columns (quote cells with commas)",
            )
            continue
        cells = dict(zip(header, [*record, *[""] * (len(header) - len(record))], strict=True))
        row: dict[str, Any] = {k: v for k, v in cells.items() if k != "choices" and v != ""}
        if "choices" in header:
            try:
                row["choices"] = json.loads(cells["choices"])
            except json.JSONDecodeError:
                problems.add(line, "choices", 'must be a JSON list, e.g. ["Paris", "Rome"]')
                continue
        elif choice_columns:
            values = [record[i] if i < len(record) else "" for i in choice_columns]
            while values and values[-1] == "":
                values.pop()
            row["choices"] = values
        yield line, row


def _choice_columns(header: Sequence[str], line: int, problems: _Problems) -> list[int]:
    if "choices" in header:
        return []
    numbered = sorted(
        (int(col[6:]), i) for i, col in enumerate(header) if col.startswith("choice") and col[6:].isdigit()
    )
    if not numbered:
        problems.add(line, "choices", "the header needs a `choices` column (JSON list) or choice1..choiceN")
        return []
    expected = list(range(1, len(numbered) + 1))
    if [n for n, _ in numbered] != expected:
        problems.add(line, "choices", "choice columns must be numbered choice1, choice2, … without gaps")
    return [i for _, i in numbered]


def _item(row: dict[str, Any], line: int, problems: _Problems) -> MCItem | None:
    before = len(problems.lines)
    item_id = row.get("id")
    if isinstance(item_id, bool) or not isinstance(item_id, str | int) or str(item_id).strip() == "":
        problems.add(line, "id", "missing or empty (a string or integer, unique in the file)")
    question = row.get("question")
    if not isinstance(question, str) or not question.strip():
        problems.add(line, "question", "missing or empty")
    subject = row.get("subject", DEFAULT_SUBJECT)
    lang = row.get("lang", DEFAULT_LANG)
    for field, value in (("subject", subject), ("lang", lang)):
        if not isinstance(value, str) or not value.strip():
            problems.add(line, field, "must be a non-empty string (or left out)")
    choices = row.get("choices")
    valid_choices: tuple[str, ...] | None = None
    if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
        problems.add(line, "choices", "missing, or not a list of strings")
    elif len(choices) < 2:
        problems.add(line, "choices", f"needs at least 2 choices, got {len(choices)}")
    elif any(not c.strip() for c in choices):
        problems.add(line, "choices", "a choice is empty")
    else:
        valid_choices = tuple(choices)
    answer = _answer(row.get("answer"), valid_choices, line, problems)
    if len(problems.lines) > before or valid_choices is None or answer is None:
        return None
    return MCItem(
        id=str(item_id).strip(),
        subject=str(subject).strip(),
        question=str(question),
        choices=valid_choices,
        answer=answer,
        lang=str(lang).strip(),
    )


def _answer(value: Any, choices: tuple[str, ...] | None, line: int, problems: _Problems) -> int | None:
    """An index (int, or digits in a CSV cell) or a letter A…; checked against the number of choices."""
    index: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        index = value
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        index = int(value.strip())
    elif isinstance(value, str) and len(value.strip()) == 1 and value.strip().isalpha():
        index = ord(value.strip().upper()) - ord("A")
    if index is None:
        problems.add(line, "answer", f"must be a 0-based index or a letter A-D, got {value!r}")
        return None
    if choices is not None and not 0 <= index < len(choices):
        problems.add(
            line, "answer", f"{value!r} is out of range for {len(choices)} choices (0..{len(choices) - 1})"
        )
        return None
    return index


def stratified_sample(items: Sequence[MCItem], limit: int, *, seed: int = SAMPLE_SEED) -> list[MCItem]:
    """`limit` items, each subject's share proportional to its size (largest remainder; ties broken by
    a seeded order), drawn at random within the subject with `seed`; returned in file order."""
    if limit >= len(items):
        return list(items)
    by_subject: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        by_subject.setdefault(item.subject, []).append(index)
    subjects = list(by_subject)
    random.Random(f"{seed}:order").shuffle(subjects)
    exact = {s: len(by_subject[s]) * limit / len(items) for s in subjects}
    quota = {s: int(exact[s]) for s in subjects}
    left = limit - sum(quota.values())
    # sorted() is stable, so among equal remainders the seeded order decides.
    for subject in sorted(subjects, key=lambda s: exact[s] - quota[s], reverse=True)[:left]:
        quota[subject] += 1
    chosen: list[int] = []
    for subject in subjects:
        chosen += random.Random(f"{seed}:{subject}").sample(by_subject[subject], quota[subject])
    return [items[i] for i in sorted(chosen)]
