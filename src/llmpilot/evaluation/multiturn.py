"""Multi-turn retrieval sets: conversations whose last user turn is a follow-up, with the document that
answers it. One JSON object per line:

    {"id": "en-01", "lang": "en", "turns": [{"role": "user", "content": "..."}, ...],
     "relevant_doc": "support.txt", "answer": "Closed on Sundays."}

`relevant_doc` is a document id as ingesting the bundled sample corpus from a folder named `docs`
gives it (`make demo` does): `docs/<file>`, `docs/faq.csv#<row id>`; `sample_project` builds that.
Used by benchmarks/multiturn.py and its integration test. Malformed lines are reported with the file,
line and field.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from llmpilot.config import PipelineConfig
from llmpilot.conversation import ConversationError, Turn, turns_from_messages
from llmpilot.errors import DatasetError
from llmpilot.ingest import Ingestor
from llmpilot.project import Project
from llmpilot.sources.files import discover_files
from llmpilot.types import Hit


@dataclass(frozen=True)
class Conversation:
    id: str
    lang: str
    turns: tuple[Turn, ...]
    relevant_doc: str
    answer: str


def _text(row: dict[str, Any], name: str, where: str) -> str:
    value = row.get(name)
    if not isinstance(value, str) or not value.strip():
        raise DatasetError(f"{where}: field {name!r} must be a non-empty string")
    return value


def load_conversations(path: Path) -> list[Conversation]:
    """Every conversation in `path`; DatasetError naming file, line and field on the first bad one."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 ({exc.reason}); re-save the file as UTF-8") from None
    out: list[Conversation] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{where}: not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise DatasetError(f"{where}: expected a JSON object, got {type(row).__name__}")
        cid = _text(row, "id", where)
        if cid in seen:
            raise DatasetError(f"{where}: duplicate id {cid!r} (first on line {seen[cid]})")
        seen[cid] = lineno
        raw_turns = row.get("turns")
        if not isinstance(raw_turns, list) or not raw_turns:
            raise DatasetError(f"{where}: field 'turns' must be a non-empty list of {{role, content}}")
        try:
            turns = turns_from_messages(raw_turns, where="turns")
        except ConversationError as exc:
            raise DatasetError(f"{where}: {exc}") from None
        if turns[-1].role != "user" or not turns[-1].content.strip():
            raise DatasetError(f"{where}: the last turn must be a user message with text (the follow-up)")
        out.append(
            Conversation(
                id=cid,
                lang=_text(row, "lang", where),
                turns=tuple(turns),
                relevant_doc=_text(row, "relevant_doc", where),
                answer=_text(row, "answer", where),
            )
        )
    if not out:
        raise DatasetError(f"{path}: no conversations (one JSON object per line)")
    return out


def last_user_message(turns: Sequence[Turn]) -> str:
    return next(t.content for t in reversed(turns) if t.role == "user")


def whole_history(turns: Sequence[Turn]) -> str:
    """The naive baseline: every user and assistant turn, concatenated."""
    return "\n".join(t.content for t in turns if t.role != "system")


def doc_ranking(hits: Sequence[Hit]) -> list[str]:
    """Document ids in rank order, each ranked by its best chunk."""
    return list(dict.fromkeys(h.chunk.doc_id for h in hits))


def hit_at(ranking: Sequence[str], relevant: str, k: int) -> float:
    return 1.0 if relevant in ranking[:k] else 0.0


def doc_rank(ranking: Sequence[str], relevant: str) -> int | None:
    """1-based rank of `relevant`, None when it was not retrieved."""
    return ranking.index(relevant) + 1 if relevant in ranking else None


def sample_project(root: Path, config: PipelineConfig | None = None) -> Project:
    """A fresh project under `root` over the bundled sample corpus (without QUESTIONS.md, the demo's
    questions and answers), ingested from `root/docs`: the shipped defaults (`llmpilot init`) unless
    `config` is given."""
    project = (
        Project.init(root / "project") if config is None else Project.from_config(root / "project", config)
    )
    docs = root / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    corpus = resources.files("llmpilot") / "sample_corpus"
    for entry in corpus.iterdir():
        if entry.is_file() and entry.name != "QUESTIONS.md":
            with resources.as_file(entry) as src:
                shutil.copy(src, docs / entry.name)
    found = discover_files([docs])
    Ingestor(project).run(found.units, origins=found.origins, errors=found.errors, skipped=found.skipped)
    return project
