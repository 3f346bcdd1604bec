"""Labelled rows a user brings (cache pairs, guard traffic): JSONL or CSV, with line numbers.

One reader for every such file, so each loader only says what its rows must hold: a JSONL line
that does not parse comes back as its `json.JSONDecodeError` in place of the row (a loader may
report every bad line in one pass), and a file that cannot be read is a DatasetError naming it.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmpilot.errors import DatasetError


@dataclass(frozen=True)
class Records:
    #: (line number, parsed JSON value or CSV row dict, or the JSONDecodeError of a bad line).
    rows: list[tuple[int, Any]]
    #: A CSV file's header; None for JSONL.
    header: list[str] | None = None


def read_records(path: Path) -> Records:
    """The rows of `path`: CSV (by its `.csv` suffix; a header row, then one record a row — the
    line number is where the record ends, as quoted fields may span lines) or JSONL (a JSON value
    per non-blank line)."""
    try:
        # utf-8-sig: a leading byte-order mark (Excel's "CSV UTF-8", Windows Notepad) is dropped, not
        # glued to the first CSV column's name or the first JSON line.
        content = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read the file ({exc})") from None
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(content))
        rows: list[tuple[int, Any]] = [(reader.line_num, record) for record in reader]
        return Records(rows, list(reader.fieldnames or []))
    parsed: list[tuple[int, Any]] = []
    # "\n" only (read_text already turned \r\n into it): splitlines would also cut at U+2028 and
    # the like, which JSON allows inside a string.
    for number, line in enumerate(content.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            parsed.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            parsed.append((number, exc))
    return Records(parsed)
