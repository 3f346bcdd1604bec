"""Labelled cache data: paraphrase pairs and look-alike negatives, from JSONL or CSV.

Pairs `{"id", "origin", "similar"}`: `similar` asks what `origin` asks (a hit is correct).
Negatives `{"id", "a", "b"}`: a and b look alike but must NOT share an answer (any hit is false);
an optional `kind` (number, date, entity, negation, unit, particle, ...) groups the report.
Every bad row is collected, so a user fixes a file in one pass, not one error per run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from llmpilot.errors import DatasetError
from llmpilot.records import read_records

#: Bad rows quoted in one error message; the rest are counted.
_MAX_REPORTED = 10


@dataclass(frozen=True)
class Pair:
    """A cached question (`origin`) and a paraphrase of it (`similar`) that should be served from it."""

    id: str
    origin: str
    similar: str


@dataclass(frozen=True)
class Negative:
    """Two look-alike questions with different answers: querying `b` must not serve `a`."""

    id: str
    a: str
    b: str
    kind: str | None = None


def _load(path: str | Path, fields: tuple[str, ...], what: str) -> list[dict[str, str]]:
    file = Path(path)
    if not file.is_file():
        raise DatasetError(f"{file}: no such file; pass a {what} file in JSONL or CSV")
    good: list[dict[str, str]] = []
    bad: list[str] = []
    seen: dict[str, int] = {}
    for line, row in read_records(file).rows:
        if isinstance(row, json.JSONDecodeError):
            bad.append(f"line {line}: not JSON ({row.msg} at column {row.colno})")
            continue
        if not isinstance(row, dict):
            bad.append(f"line {line}: expected an object with fields {', '.join(fields)}")
            continue
        problems = []
        for field in fields:
            value = row.get(field)
            if field == "id" and isinstance(value, int) and not isinstance(value, bool):
                value = str(value)  # ids are often numbers in hand-written files
            if not isinstance(value, str) or not value.strip():
                problems.append(f"field {field!r} is {'missing' if value is None else 'empty or not text'}")
            else:
                row[field] = value
        if not problems and row["id"] in seen:
            problems.append(f"field 'id' {row['id']!r} repeats line {seen[row['id']]}")
        if problems:
            bad.append(f"line {line}: " + "; ".join(problems))
            continue
        seen[row["id"]] = line
        good.append(row)
    if bad:
        shown = "\n  ".join(bad[:_MAX_REPORTED])
        more = f"\n  ... and {len(bad) - _MAX_REPORTED} more" if len(bad) > _MAX_REPORTED else ""
        raise DatasetError(
            f"{file}: {len(bad)} bad {what} row(s); each needs {', '.join(repr(f) for f in fields)} "
            f"as non-empty text:\n  {shown}{more}"
        )
    if not good:
        raise DatasetError(f"{file}: no {what} rows; expected one object per line with {', '.join(fields)}")
    return good


def load_pairs(path: str | Path) -> list[Pair]:
    """Paraphrase pairs `{"id", "origin", "similar"}` (JSONL, or CSV with those columns)."""
    return [
        Pair(r["id"], r["origin"], r["similar"]) for r in _load(path, ("id", "origin", "similar"), "pairs")
    ]


def load_negatives(path: str | Path) -> list[Negative]:
    """Look-alike negatives `{"id", "a", "b"}` plus an optional `kind` (JSONL, or CSV)."""
    rows = _load(path, ("id", "a", "b"), "negatives")
    out = []
    for r in rows:
        kind = r.get("kind")
        out.append(Negative(r["id"], r["a"], r["b"], kind if isinstance(kind, str) and kind else None))
    return out
