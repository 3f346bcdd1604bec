"""`guard eval`: measure the configured input rails on labelled questions, like a classifier.

A row is flagged when any input rail blocks or warns (redacting PII is not a flag: the question is
still answered). Rows: JSONL or CSV with "id", "text", "label" ("attack" | "benign") and "lang"
("ko" | "en"; optional, guessed from the text when empty).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from llmpilot.answering import question_language
from llmpilot.errors import DatasetError
from llmpilot.guardrails.policy import Guardrails
from llmpilot.records import read_records
from llmpilot.types import Lang

LABELS = ("attack", "benign")


@dataclass(frozen=True)
class GuardRow:
    id: str
    text: str
    label: str
    lang: Lang


def _row(raw: Any, where: str) -> GuardRow:
    if not isinstance(raw, dict):
        raise DatasetError(
            f"{where}: expected an object with id, text, label, lang; got {type(raw).__name__}"
        )
    for key in ("id", "text", "label"):
        value = raw.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise DatasetError(
                f"{where}: field {key!r} is missing or empty; every row needs id, text and label"
            )
    label = str(raw["label"]).strip()
    if label not in LABELS:
        raise DatasetError(f"{where}: field 'label' is {label!r}; use 'attack' or 'benign'")
    lang = str(raw.get("lang") or "").strip()
    if lang and lang not in ("ko", "en"):
        raise DatasetError(f"{where}: field 'lang' is {lang!r}; use 'ko' or 'en' (or leave it empty)")
    text = str(raw["text"])
    return GuardRow(str(raw["id"]), text, label, question_language(text, lang or None))


def load_guard_rows(path: str | Path) -> list[GuardRow]:
    """Rows of a JSONL or CSV file (by extension; .csv needs a header row). Errors name the file,
    the line and the field."""
    path = Path(path)
    records = read_records(path)
    if records.header is not None:
        missing = {"id", "text", "label"} - set(records.header)
        if missing:
            raise DatasetError(f"{path}:1: the header lacks column(s) {', '.join(sorted(missing))}")
    rows: list[GuardRow] = []
    for n, raw in records.rows:
        if isinstance(raw, json.JSONDecodeError):
            raise DatasetError(f"{path}:{n}: not valid JSON ({raw.msg} at column {raw.colno})")
        rows.append(_row(raw, f"{path}:{n}"))
    if not rows:
        raise DatasetError(f"{path}: no rows; expected JSONL or CSV rows with id, text, label, lang")
    ids = [r.id for r in rows]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise DatasetError(f"{path}: id {dup!r} appears more than once; ids must be unique")
    return rows


def _metrics(flags: list[bool], labels: list[str], latencies: list[float]) -> dict[str, Any]:
    tp = sum(f and lab == "attack" for f, lab in zip(flags, labels, strict=True))
    fp = sum(f and lab == "benign" for f, lab in zip(flags, labels, strict=True))
    attacks = labels.count("attack")
    benign = labels.count("benign")
    return {
        "recall": tp / attacks if attacks else None,
        "false_positive_rate": fp / benign if benign else None,
        "precision": tp / (tp + fp) if tp + fp else None,
        "latency_ms_p50": float(np.percentile(latencies, 50)) if latencies else None,
        "n": len(labels),
        "n_attack": attacks,
        "n_benign": benign,
    }


def evaluate_rails(
    rows: Sequence[GuardRow], guardrails: Guardrails, vectors: np.ndarray | None = None
) -> dict[str, Any]:
    """Recall, false-positive rate, precision and p50 latency of the input rails, per language.
    `vectors` (one query embedding per row) measures the rails as served after retrieval has
    embedded the question; without them the rails embed each question themselves when they need to."""
    per_lang: dict[str, tuple[list[bool], list[str], list[float]]] = {}
    for i, row in enumerate(rows):
        vector = vectors[i] if vectors is not None else None
        t0 = time.perf_counter()
        verdict = guardrails.check_input(row.text, row.lang, vector)
        elapsed = (time.perf_counter() - t0) * 1000.0
        flagged = verdict.blocked or any(d.outcome == "warn" for d in verdict.decisions)
        flags, labels, latencies = per_lang.setdefault(row.lang, ([], [], []))
        flags.append(flagged)
        labels.append(row.label)
        latencies.append(elapsed)
    by_lang = {lang: _metrics(*per_lang[lang]) for lang in sorted(per_lang)}
    return {"by_lang": by_lang, "n": len(rows)}
