"""Reading source files row by row, keeping line/row numbers and every problem: JSON Lines, CSV/TSV
and XLSX tables, with the encoding fallbacks Korean spreadsheets need."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from llmpilot.evaluation.importers.model import Problem, Where
from llmpilot.extras import requires_extra

_BOM = b"\xef\xbb\xbf"


def decode(data: bytes, file: str) -> tuple[str, str] | Problem:
    """(text, encoding) trying UTF-8, UTF-8 with BOM, then cp949 (what Korean Excel writes as "CSV");
    a Problem naming the first undecodable line when none fits."""
    if data.startswith(_BOM):
        try:
            return data[len(_BOM) :].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            return _bad_bytes(data, exc, file, len(_BOM))
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        utf8_error = exc
    try:
        text = data.decode("cp949")
    except UnicodeDecodeError:
        return _bad_bytes(data, utf8_error, file, 0)
    # cp949 decodes many non-Korean byte sequences too; accept it only when the text reads as Korean.
    non_ascii = [c for c in text[:200_000] if ord(c) > 127]
    hangul = sum("\uac00" <= c <= "\ud7a3" or "\u3131" <= c <= "\u318e" for c in non_ascii)
    if hangul < 0.5 * len(non_ascii):
        return _bad_bytes(data, utf8_error, file, 0)
    return text, "cp949"


def _bad_bytes(data: bytes, exc: UnicodeDecodeError, file: str, offset: int) -> Problem:
    pos = exc.start + offset
    line = data.count(b"\n", 0, pos) + 1
    return Where(file, line).problem(
        f"broken encoding: byte 0x{data[pos]:02x} is not UTF-8 (tried UTF-8, UTF-8 with BOM and cp949); "
        "re-save the file as UTF-8"
    )


def read_text(path: Path, problems: list[Problem], encodings: dict[str, str]) -> str | None:
    """The decoded text of `path`, or None after recording a file-level problem."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        problems.append(Where(str(path)).problem("file not found"))
        return None
    except OSError as exc:
        problems.append(Where(str(path)).problem(f"cannot read the file: {exc.strerror or exc}"))
        return None
    decoded = decode(data, str(path))
    if isinstance(decoded, Problem):
        problems.append(decoded)
        return None
    text, encoding = decoded
    encodings[str(path)] = encoding
    return text


def read_jsonl(text: str, file: str, problems: list[Problem]) -> Iterator[tuple[Where, dict[str, Any]]]:
    """Each JSON object line with its place; blank lines are skipped, bad lines become problems."""
    # split("\n"), not splitlines(): U+2028 and friends are legal inside JSON strings.
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = Where(file, lineno)
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(where.problem(f"not valid JSON ({exc.msg} at column {exc.colno})"))
            continue
        if not isinstance(row, dict):
            problems.append(where.problem(f"expected a JSON object, got {type(row).__name__}"))
            continue
        yield where, row


def as_text(value: Any) -> str | None:
    """A string or integer id/text as str; None for anything else (null, lists, floats, bools)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def parse_score(value: Any) -> int | None:
    """An integer relevance grade from 2, "2" or 2.0; None when the value is not an integer."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            return None
        return int(number) if math.isfinite(number) and number.is_integer() else None
    return None


@dataclass
class Table:
    """A header and its data rows (values as text), each with its line/row number."""

    file: str
    columns: list[str]
    rows: list[tuple[Where, dict[str, str]]] = field(default_factory=list)


def normalize_header(name: str) -> str:
    return name.replace("\ufeff", "").strip().lower()


def read_csv(path: Path, problems: list[Problem], encodings: dict[str, str]) -> Table | None:
    """A CSV (or, for .tsv, tab-separated) table; None after a file-level problem."""
    text = read_text(path, problems, encodings)
    if text is None:
        return None
    file = str(path)
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    csv.field_size_limit(1 << 30)  # whole passages in one cell are normal in eval sets
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    table: Table | None = None
    while True:
        lineno = reader.line_num + 1  # a quoted cell can span lines: report where the row starts
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(Where(file, lineno).problem(f"not valid CSV ({exc})"))
            continue
        if not any(v.strip() for v in values):
            continue
        if header is None:
            header = [normalize_header(v) for v in values]
            table = Table(file, header)
            continue
        assert table is not None
        where = Where(file, lineno)
        if len(values) > len(header):
            problems.append(
                where.problem(f"{len(values)} fields but the header has {len(header)} (an unquoted comma?)")
            )
            continue
        values = values + [""] * (len(header) - len(values))
        table.rows.append((where, dict(zip(header, values, strict=True))))
    if table is None:
        problems.append(Where(file).problem("empty file: expected a header row and one question per row"))
    return table


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Excel stores every number as a float: 7 is 7.0
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def read_xlsx(path: Path, problems: list[Problem]) -> Table | None:
    """The first worksheet of an .xlsx workbook; row numbers are the spreadsheet's own."""
    import zipfile

    with requires_extra("eval", "Importing .xlsx"):
        from openpyxl import load_workbook
        from openpyxl.utils.exceptions import InvalidFileException

    file = str(path)
    if not path.exists():
        problems.append(Where(file).problem("file not found"))
        return None
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        problems.append(
            Where(file).problem(f"not a readable .xlsx workbook ({exc}); save it as .xlsx or CSV")
        )
        return None
    try:
        sheet = workbook.worksheets[0]
        table: Table | None = None
        header: list[str] = []
        for rowno, raw in enumerate(sheet.iter_rows(values_only=True), start=1):
            values = [_cell(v) for v in raw]
            if not any(v.strip() for v in values):
                continue
            if table is None:
                header = [normalize_header(v) for v in values]
                while header and not header[-1]:
                    header.pop()  # trailing empty header cells are formatting, not columns
                table = Table(file, header)
                continue
            extra = [v for v in values[len(header) :] if v.strip()]
            where = Where(file, rowno, "row")
            if extra:
                problems.append(where.problem(f"values beyond the {len(header)} header columns: {extra[:3]}"))
                continue
            values = values[: len(header)] + [""] * (len(header) - len(values))
            table.rows.append((where, dict(zip(header, values, strict=True))))
    finally:
        workbook.close()
    if table is None:
        problems.append(
            Where(file).problem("empty worksheet: expected a header row and one question per row")
        )
    return table
