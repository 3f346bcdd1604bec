"""The embedder-benchmark sets: which exist, where they come from, and their loaders.

Packaged sets live in `llmpilot/models/data/embed/` (provenance, licences and sha256 in its README);
retrieval sets are BEIR-format folders (corpus/queries/qrels.jsonl) read by
`llmpilot.evaluation.datasets.load_dataset`. Every malformed line is reported with file, line and field.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from llmpilot.errors import DatasetError
from llmpilot.evaluation.datasets import read_jsonl

T = TypeVar("T")
TaskType = Literal["retrieval", "sts", "classification", "clustering", "pair_classification"]
TASK_TYPES: tuple[TaskType, ...] = ("retrieval", "sts", "classification", "clustering", "pair_classification")

DATA_DIR = Path(__file__).parent / "data" / "embed"
#: ../shared/data next to the checkout (the shared benchmark folders); LLMPILOT_SHARED_DATA overrides.
SHARED_DATA_ENV = "LLMPILOT_SHARED_DATA"


@dataclass(frozen=True)
class TaskSpec:
    """One benchmark set: its type, language, file or folder, and where the data came from."""

    name: str
    type: TaskType
    lang: str
    #: a packaged file name (in DATA_DIR), or for retrieval a folder path
    location: str
    source: str
    licence: str


@dataclass(frozen=True)
class Pair:
    id: str
    text1: str
    text2: str
    value: float  # STS: gold score; pair classification: 0 or 1


@dataclass(frozen=True)
class LabelledText:
    id: str
    text: str
    label: str
    split: str  # "train" | "test" (clustering: "test")


def _text(row: dict[str, Any], name: str, path: Path, lineno: int) -> str:
    value = row.get(name)
    if not isinstance(value, str) or not value.strip():
        raise DatasetError(f"{path}:{lineno}: field {name!r} must be a non-empty string (got {value!r})")
    return value


def _number(row: dict[str, Any], name: str, path: Path, lineno: int) -> float:
    value = row.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DatasetError(f"{path}:{lineno}: field {name!r} must be a number (got {value!r})")
    return float(value)


def balanced(rows: Sequence[T], key: Callable[[T], Hashable], limit: int | None) -> list[T]:
    """The first `limit` rows taken round-robin over the groups `key` makes (in file order within each
    group), so a limited run of a file sorted by label still sees every label."""
    if limit is None or limit >= len(rows):
        return list(rows)
    groups: dict[Hashable, list[T]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    kept: list[T] = []
    for depth in range(max(len(g) for g in groups.values())):
        for group in groups.values():
            if depth < len(group):
                kept.append(group[depth])
                if len(kept) == limit:
                    return kept
    return kept


def load_pairs(path: Path, value_field: str, *, binary: bool, limit: int | None = None) -> list[Pair]:
    """{"id","sentence1","sentence2", value_field}; `binary` requires value_field to be 0 or 1."""
    pairs = []
    for lineno, row in read_jsonl(path):
        value = _number(row, value_field, path, lineno)
        if binary and value not in (0.0, 1.0):
            raise DatasetError(f"{path}:{lineno}: field {value_field!r} must be 0 or 1 (got {value!r})")
        pairs.append(
            Pair(
                id=str(row.get("id", lineno)),
                text1=_text(row, "sentence1", path, lineno),
                text2=_text(row, "sentence2", path, lineno),
                value=value,
            )
        )
    if not pairs:
        raise DatasetError(f"{path}: no pairs (the file is empty)")
    if binary:
        return balanced(pairs, lambda p: p.value, limit)
    return pairs if limit is None else pairs[:limit]


def load_labelled(path: Path, *, needs_split: bool, limit: int | None = None) -> list[LabelledText]:
    """{"id","text","label"[, "split": "train"|"test"]}. `limit` keeps N rows of each split, spread over
    the labels, so a limited classification run still has training and test items of every label."""
    rows = []
    for lineno, row in read_jsonl(path):
        label = row.get("label")
        if isinstance(label, bool) or not isinstance(label, str | int):
            raise DatasetError(
                f"{path}:{lineno}: field 'label' must be a string or an integer (got {label!r})"
            )
        split = row.get("split", "test")
        if needs_split and split not in ("train", "test"):
            raise DatasetError(f"{path}:{lineno}: field 'split' must be 'train' or 'test' (got {split!r})")
        rows.append(
            LabelledText(
                id=str(row.get("id", lineno)),
                text=_text(row, "text", path, lineno),
                label=str(label),
                split=str(split),
            )
        )
    if not rows:
        raise DatasetError(f"{path}: no rows (the file is empty)")
    if needs_split:
        for split in ("train", "test"):
            if not any(r.split == split for r in rows):
                raise DatasetError(f"{path}: no {split!r} rows; classification needs both splits")
    kept: list[LabelledText] = []
    for split in dict.fromkeys(r.split for r in rows):
        kept.extend(balanced([r for r in rows if r.split == split], lambda r: r.label, limit))
    return kept


def shared_data_dir() -> Path:
    """../shared/data beside the checkout, or $LLMPILOT_SHARED_DATA."""
    env = os.environ.get(SHARED_DATA_ENV)
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent.parent / "shared" / "data"
        if candidate.is_dir():
            return candidate
    return Path("../shared/data")


def _packaged(
    name: str, type_: TaskType, lang: str, file: str, source: str, licence: str
) -> tuple[str, TaskSpec]:
    return name, TaskSpec(name, type_, lang, file, source, licence)


#: The packaged and shared sets, by task name. README.md in DATA_DIR tells how each was made.
PACKAGED: dict[str, TaskSpec] = dict(
    [
        _packaged(
            "sts-en",
            "sts",
            "en",
            "sts-en.jsonl",
            "STS Benchmark test (images + SNLI rows), via PhilipMay/stsb-multi-mt",
            "CC BY-SA 4.0 scores; CC BY-SA text",
        ),
        _packaged(
            "sts-ko",
            "sts",
            "ko",
            "sts-ko.jsonl",
            "KorSTS test (kakaobrain/KorNLUDatasets), the same rows as sts-en",
            "CC BY-SA 4.0",
        ),
        _packaged(
            "classification-en",
            "classification",
            "en",
            "classification-en.jsonl",
            "derived: MMLU questions (../shared/data/mmlu-en) labelled by subject",
            "MIT",
        ),
        _packaged(
            "classification-ko",
            "classification",
            "ko",
            "classification-ko.jsonl",
            "NSMC raw reviews (e9t/nsmc), rating 1-4 negative / 9-10 positive",
            "CC0 1.0",
        ),
        _packaged(
            "clustering-en",
            "clustering",
            "en",
            "clustering-en.jsonl",
            "derived: MMLU questions (../shared/data/mmlu-en) clustered by subject",
            "MIT",
        ),
        _packaged(
            "clustering-ko",
            "clustering",
            "ko",
            "clustering-ko.jsonl",
            "derived: KLUE-STS dev sentences clustered by source domain (KLUE-benchmark/KLUE)",
            "CC BY-SA 4.0",
        ),
        _packaged(
            "pair_classification-en",
            "pair_classification",
            "en",
            "pairs-en.jsonl",
            "derived: GPTCache paraphrase pairs (../shared/data/cache-pairs) + mismatched pairs",
            "MIT",
        ),
        _packaged(
            "pair_classification-ko",
            "pair_classification",
            "ko",
            "pairs-ko.jsonl",
            "KLUE-STS dev binary label (KLUE-benchmark/KLUE)",
            "CC BY-SA 4.0",
        ),
    ]
)

#: Retrieval folders under the shared data directory: (task name, folder, lang, source, licence).
SHARED_RETRIEVAL: tuple[tuple[str, str, str, str, str], ...] = (
    ("retrieval-scifact", "scifact", "en", "BEIR SciFact test (../shared/data/scifact)", "CC BY-NC 2.0"),
    (
        "retrieval-autorag-ko",
        "autorag-ko",
        "ko",
        "AutoRAG Korean eval set (../shared/data/autorag-ko)",
        "none stated",
    ),
)


def retrieval_spec(name: str, folder: Path, lang: str, source: str, licence: str) -> TaskSpec:
    return TaskSpec(name, "retrieval", lang, str(folder), source, licence)
