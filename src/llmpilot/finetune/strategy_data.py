"""The items a strategy comparison scores, and the one held-out split every strategy shares.

An item is an input (a question, or a document to summarize) with its reference outputs. `qa` and
`chat` read an llmpilot eval dataset folder (corpus.jsonl, queries.jsonl with "answers", qrels.jsonl);
`summarize` reads a pairs file `{"id", "document", "summary"}` (or a folder holding pairs.jsonl).

The split is made once, by a seeded hash of each item's normalized input, so it does not depend on
the file's row order, and identical inputs always land on the same side: a duplicate in both train and
test would let fine-tuning score by recall.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from llmpilot.errors import DatasetError
from llmpilot.records import read_records

Task = Literal["qa", "summarize", "chat"]
TASKS: tuple[str, ...] = get_args(Task)


@dataclass(frozen=True)
class Item:
    """One scored unit: `text` is what the model is given (question or document)."""

    id: str
    text: str
    references: tuple[str, ...]

    @property
    def reference(self) -> str:
        """The reference a model learns from (the first one)."""
        return self.references[0]


@dataclass(frozen=True)
class Split:
    """test: scored; val: picks the prompt variant and early-stops fine-tuning; train: exemplars,
    retrieval pool (summarize) and training rows. Disjoint by construction."""

    test: list[Item]
    val: list[Item]
    train: list[Item]

    def sizes(self) -> dict[str, int]:
        return {"test": len(self.test), "val": len(self.val), "train": len(self.train)}


def check_task(task: str) -> Task:
    if task not in TASKS:
        raise DatasetError(f"--task {task!r}: use one of {', '.join(TASKS)}")
    return task  # type: ignore[return-value]  # checked against TASKS above


def load_items(dataset: Path, task: Task) -> list[Item]:
    """The task's items from `dataset`; a wrong format is a DatasetError naming the file and line."""
    if task == "summarize":
        return load_pairs(dataset)
    return load_qa(dataset)


def load_qa(folder: Path) -> list[Item]:
    """Questions with reference answers from an eval dataset folder (queries without one are left out)."""
    from llmpilot.evaluation.datasets import load_dataset

    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(
            f"{folder}: not a folder; --task qa/chat takes an eval dataset folder "
            "(corpus.jsonl, queries.jsonl with answers, qrels.jsonl)"
        )
    dataset = load_dataset(folder, for_retrieval=True)
    items = [
        Item(q.id, q.text, tuple(a for a in q.answers if a.strip()))
        for q in dataset.queries
        if any(a.strip() for a in q.answers)
    ]
    if not items:
        raise DatasetError(
            f'{folder / "queries.jsonl"}: no query has a reference answer ("answers": [...]); the strategies '
            "are scored against reference answers, so add them"
        )
    return items


def _pairs_file(path: Path) -> Path:
    if path.is_dir():
        candidate = path / "pairs.jsonl"
        if not candidate.is_file():
            raise DatasetError(
                f"{path}: no pairs.jsonl; --task summarize takes a JSONL file (or a folder holding "
                'pairs.jsonl) with one {"id", "document", "summary"} object a line'
            )
        return candidate
    if not path.is_file():
        raise DatasetError(f"{path}: no such file; --task summarize takes a pairs.jsonl file or its folder")
    return path


def load_pairs(path: Path) -> list[Item]:
    """{"id", "document", "summary"} rows; every bad line is reported at once."""
    file = _pairs_file(Path(path))
    records = read_records(file)
    items: list[Item] = []
    bad: list[str] = []
    seen: set[str] = set()
    for line, row in records.rows:
        if isinstance(row, json.JSONDecodeError):
            bad.append(f"{file}:{line}: not valid JSON ({row.msg} at column {row.colno})")
            continue
        if not isinstance(row, dict):
            bad.append(f"{file}:{line}: expected a JSON object, got {type(row).__name__}")
            continue
        problems = [
            f"field {key!r} is missing or empty"
            for key in ("document", "summary")
            if not isinstance(row.get(key), str) or not row[key].strip()
        ]
        item_id = str(row.get("id", f"line-{line}"))
        if item_id in seen:
            problems.append(f"id {item_id!r} is used by an earlier row")
        if problems:
            bad.append(f"{file}:{line}: {'; '.join(problems)}")
            continue
        seen.add(item_id)
        items.append(Item(item_id, row["document"], (row["summary"],)))
    if bad:
        shown = "\n  ".join(bad[:20]) + (f"\n  ... and {len(bad) - 20} more" if len(bad) > 20 else "")
        raise DatasetError(
            f"{file}: {len(bad)} bad row(s); each row is "
            f'{{"id", "document", "summary"}} with non-empty text:\n  {shown}'
        )
    if not items:
        raise DatasetError(f'{file}: no rows; write one {{"id", "document", "summary"}} object a line')
    return items


def _key(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def split_items(
    items: Sequence[Item], *, test_size: int, val_size: int, train_size: int | None, seed: int
) -> Split:
    """Seeded, order-independent split. Items are grouped by normalized input; groups are ordered by
    sha256(seed:input) and dealt to test, then val, then train (capped at `train_size`; the rest is
    unused). A group never straddles two sides."""
    groups: dict[str, list[Item]] = {}
    for item in items:
        groups.setdefault(_key(item.text), []).append(item)
    order = sorted(groups, key=lambda k: hashlib.sha256(f"{seed}:{k}".encode()).hexdigest())
    if len(order) < test_size + 2:
        raise DatasetError(
            f"{len(items)} items ({len(order)} distinct inputs) are too few for --test-size {test_size} plus "
            "training rows; lower --test-size or add data"
        )
    sides: tuple[list[Item], list[Item], list[Item]] = ([], [], [])
    cap = train_size if train_size is not None else len(items)
    for key in order:
        group = groups[key]
        if len(sides[0]) < test_size:
            sides[0].extend(group)
        elif len(sides[1]) < val_size:
            sides[1].extend(group)
        elif len(sides[2]) + len(group) <= cap:
            sides[2].extend(group)
    if not sides[2]:
        raise DatasetError(
            f"no training rows left after {len(sides[0])} test and {len(sides[1])} validation items; "
            "lower --test-size or raise --train-size"
        )
    return Split(*sides)


def exemplars(train: Sequence[Item], k: int, pool: int = 20) -> list[Item]:
    """The k fixed few-shot exemplars: the shortest (input + reference) among the first `pool` train
    items. Short ones keep the prompt within small models' windows; the split order makes them seeded."""
    if k <= 0:
        return []
    head = list(train[:pool])
    return sorted(head, key=lambda i: (len(i.text) + len(i.reference), i.id))[:k]
