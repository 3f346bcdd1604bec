"""Training examples for fine-tuning, from the files and stores people already have.

Every source becomes the same thing: a chat (system/user/assistant turns) whose last message is the
assistant answer the model learns; the earlier turns are context, so the trainer can take the loss
on answer tokens only and render any model's chat template. Files are JSONL or CSV, one of three
formats per row (rows of a file may mix them):

- Alpaca: `{"instruction", "input"?, "output"}`; a non-empty input is joined to the instruction
  with a blank line, as Alpaca's own prompt does.
- `{"prompt", "completion"}`.
- OpenAI chat: `{"messages": [{"role", "content"}, ...]}`; in CSV, `messages` is a column holding
  that list as a JSON string.

Alpaca and prompt/completion rows may carry a `system` field. A file is checked whole before
anything trains: every bad row is collected and reported with its line, so a user fixes the file in
one pass rather than one error per run.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from llmpilot.errors import DatasetError, LlmpilotError
from llmpilot.evaluation.datasets import load_dataset
from llmpilot.records import read_records
from llmpilot.store import schema
from llmpilot.store.db import Store
from llmpilot.store.serving import ServingStore

#: Bad rows quoted in one error message; the rest are counted, so the message stays readable.
MAX_REPORTED = 20
ROLES = ("system", "user", "assistant")
_FORMATS = (
    '{"instruction", "input"?, "output"} (Alpaca), {"prompt", "completion"} '
    'or {"messages": [{"role", "content"}, ...]} (OpenAI chat)'
)
_CSV_COLUMNS = ("instruction", "output", "prompt", "completion", "messages")


@dataclass(frozen=True)
class TrainingExample:
    """One chat to learn from. `source` says where it came from ("path:line", "dataset:<query id>",
    "feedback:<id>") so every report can point back at the row."""

    source: str
    #: Chat messages {"role", "content"}; the LAST is the assistant answer to learn, earlier ones
    #: are context (system/user/assistant turns).
    messages: tuple[dict[str, str], ...]

    @property
    def prompt_messages(self) -> list[dict[str, str]]:
        """The context the answer follows: every message but the last (copies, safe to change)."""
        return [dict(m) for m in self.messages[:-1]]

    @property
    def answer(self) -> str:
        return self.messages[-1]["content"]


def _chat(source: str, user: str, answer: str, system: str | None = None) -> TrainingExample:
    messages = [{"role": "system", "content": system}] if system else []
    messages += [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    return TrainingExample(source, tuple(messages))


# --- files -------------------------------------------------------------------------------------


class _BadRow(Exception):
    """What is wrong with one row; becomes a "path:LINE: ..." line of the file's DatasetError."""


def _present(row: dict[Any, Any], key: str, csv: bool) -> bool:
    # A CSV row has every header column, empty where the row has no value: only a value counts.
    value = row.get(key)
    return value is not None and not (csv and value == "")


def _text(row: dict[Any, Any], key: str, *, required: bool = True) -> str | None:
    value = row.get(key)
    if value is None:
        if required:
            raise _BadRow(f"field {key!r} is missing; add it")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _BadRow(f"field {key!r} is {type(value).__name__}, not text; write it as a string")
    text = str(value)  # numbers are fine answers ("completion": 4)
    if not text.strip():
        if required:
            raise _BadRow(f"field {key!r} is empty; write the text or delete the row")
        return None
    return text


def _content(value: Any, where: str) -> str:
    # OpenAI also allows content as a list of parts; only text parts can be learned from.
    if isinstance(value, list):
        parts = []
        for part in value:
            if not (
                isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
            ):
                raise _BadRow(f"{where}.content has a non-text part; only text can be trained on")
            parts.append(part["text"])
        value = "".join(parts)
    if not isinstance(value, str):
        raise _BadRow(
            f"{where}.content is {'missing' if value is None else type(value).__name__}"
            " (tool calls cannot be trained on); give it text or drop the row"
        )
    if not value.strip():
        raise _BadRow(f"{where}.content is empty; write the text or drop the message")
    return value


def _messages(value: Any, csv: bool) -> list[dict[str, str]]:
    if isinstance(value, str) and csv:
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise _BadRow(
                f"column 'messages' is not valid JSON ({exc.msg} at column {exc.colno}); "
                'write a JSON list like [{"role": "user", "content": "..."}, ...]'
            ) from None
    if not isinstance(value, list) or not value:
        raise _BadRow(
            'field \'messages\' must be a non-empty list of {"role", "content"} objects'
            f" (got {type(value).__name__ if value != [] else 'an empty list'})"
        )
    messages: list[dict[str, str]] = []
    for i, item in enumerate(value):
        where = f"messages[{i}]"
        if not isinstance(item, dict):
            raise _BadRow(f'{where} is {type(item).__name__}; each message is {{"role", "content"}}')
        role = item.get("role")
        if role not in ROLES:
            raise _BadRow(f"{where}.role is {role!r}; use one of {', '.join(ROLES)}")
        if role == "system" and i > 0:
            # Many chat templates (Gemma, Llama 2) reject or drop a system turn anywhere else.
            raise _BadRow(f"{where} is a system message; put the system message first, or drop it")
        messages.append({"role": role, "content": _content(item.get("content"), where)})
    if messages[-1]["role"] != "assistant":
        raise _BadRow(
            f"the last message (messages[{len(messages) - 1}]) is {messages[-1]['role']!r}; "
            "end with the assistant answer to learn"
        )
    if not any(m["role"] == "user" for m in messages):
        raise _BadRow("'messages' has no user message; add the question the answer replies to")
    return messages


def _example(row: Any, source: str, csv: bool) -> TrainingExample:
    if not isinstance(row, dict):
        raise _BadRow(f"expected a JSON object, got {type(row).__name__}; write one object a line")
    if None in row:  # csv.DictReader puts the fields past the header under the key None
        raise _BadRow(
            "more fields than the header has columns; quote fields that contain commas or line breaks"
        )
    if _present(row, "messages", csv):
        return TrainingExample(source, tuple(_messages(row["messages"], csv)))
    system = _text(row, "system", required=False)
    if _present(row, "instruction", csv) or _present(row, "output", csv):
        instruction, output = _text(row, "instruction"), _text(row, "output")
        assert instruction is not None and output is not None
        extra = _text(row, "input", required=False)
        user = f"{instruction}\n\n{extra}" if extra else instruction
        return _chat(source, user, output, system)
    if _present(row, "prompt", csv) or _present(row, "completion", csv):
        prompt, completion = _text(row, "prompt"), _text(row, "completion")
        assert prompt is not None and completion is not None
        return _chat(source, prompt, completion, system)
    if "conversations" in row:
        raise _BadRow(
            "ShareGPT rows ('conversations' with 'from'/'value') are not read; rename them to "
            "'messages' with 'role' (system/user/assistant) and 'content'"
        )
    fields = [repr(k) for k in row if row.get(k) not in (None, "")]
    if csv and not fields:
        raise _BadRow("an empty row (every column is blank); delete it")
    raise _BadRow(f"no known fields (has {', '.join(fields) or 'none'}); use {_FORMATS}")


def _not_utf8(path: Path) -> DatasetError | None:
    """A DatasetError naming the line of the first byte that is not UTF-8, if there is one."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return DatasetError(
            f"{path}:{line}: not UTF-8 (byte 0x{data[exc.start]:02x}); re-save the file as UTF-8 "
            "(a spreadsheet's 'CSV UTF-8' export, or `iconv -f cp949 -t utf-8` for Korean Windows files)"
        )
    return None


def load_training_file(path: Path) -> list[TrainingExample]:
    """The examples of a JSONL or CSV file (CSV by its `.csv` suffix, with a header row). Every bad
    row is reported at once in one DatasetError, each as "path:LINE: what is wrong, what to do"."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file; pass a JSONL or CSV file of training examples")
    try:
        records = read_records(path)
    except DatasetError as exc:
        raise (_not_utf8(path) or exc) from None
    csv = records.header is not None
    if csv and not set(_CSV_COLUMNS) & set(records.header or []):
        raise DatasetError(
            f"{path}:1: the header has no known column (has {', '.join(records.header or []) or 'none'}); "
            "name the columns instruction,input,output or prompt,completion or messages"
        )
    if not csv and path.suffix.lower() == ".json" and records.rows:
        first = records.rows[0][1]
        if isinstance(first, json.JSONDecodeError) and path.read_text(encoding="utf-8").lstrip()[:1] == "[":
            raise DatasetError(
                f"{path}: a JSON array, not JSON Lines; write one example a line "
                f"(`jq -c '.[]' {path.name} > {path.stem}.jsonl`)"
            )
    examples: list[TrainingExample] = []
    bad: list[str] = []
    for line, row in records.rows:
        if isinstance(row, json.JSONDecodeError):
            bad.append(
                f"{path}:{line}: not valid JSON ({row.msg} at column {row.colno}); fix or delete the line"
            )
            continue
        try:
            examples.append(_example(row, f"{path}:{line}", csv))
        except _BadRow as exc:
            bad.append(f"{path}:{line}: {exc}")
    if bad:
        shown = "\n  ".join(bad[:MAX_REPORTED])
        more = f"\n  ... and {len(bad) - MAX_REPORTED} more" if len(bad) > MAX_REPORTED else ""
        raise DatasetError(
            f"{path}: {len(bad)} bad row(s) of {len(records.rows)}; fix or delete them:\n  {shown}{more}"
        )
    if not examples:
        raise DatasetError(
            f"{path}: no training rows (the file is empty); write one example a line: {_FORMATS}"
        )
    return examples


# --- llmpilot data -----------------------------------------------------------------------------


def examples_from_dataset(folder: Path) -> list[TrainingExample]:
    """Question -> first reference answer, from an llmpilot eval dataset folder (queries.jsonl with
    "answers"). This also reads what `llmpilot eval synth` writes (a dataset folder of synthetic
    questions with one answer each). Queries without an answer are skipped; a dataset with no answer
    at all is a DatasetError. The examples hold no retrieved passages: the model learns the answers
    closed-book."""
    folder = Path(folder)
    dataset = load_dataset(folder, include_unjudged=True)
    examples = []
    for query in dataset.queries:
        answer = next((a for a in query.answers if a.strip()), None)
        if answer is not None:
            examples.append(_chat(f"dataset:{query.id}", query.text, answer))
    if not examples:
        raise DatasetError(
            f"{folder / 'queries.jsonl'}: the dataset has no reference answers (no query has a non-empty "
            '"answers" list), so there is nothing to learn; add answers, or draft a set with '
            "`llmpilot eval synth`"
        )
    return examples


def examples_from_feedback(
    store: Store | ServingStore, *, tenant: str | None = None
) -> list[TrainingExample]:
    """Corrections users gave in the served app: the traced question -> the corrected answer.

    Any feedback row with correction text counts (the UI sends it with the "correction" signal, the
    API allows it with any). When a trace was corrected more than once the newest correction wins:
    the user revised their own text. `tenant` keeps to one tenant's data; None reads every tenant's,
    and a model tuned on that can repeat one tenant's answers to another. No corrections -> []."""
    engine = store.engine
    f, t = schema.feedback, schema.traces
    query = (
        select(f.c.id, f.c.trace_id, f.c.correction, t.c.question)
        .join(t, t.c.id == f.c.trace_id)
        .where(f.c.correction.is_not(None))
        .order_by(f.c.id)
    )
    if tenant is not None:
        query = query.where(f.c.tenant == tenant, t.c.tenant == tenant)
    latest: dict[str, TrainingExample] = {}
    with engine.connect() as conn:
        for row in conn.execute(query):
            if row.correction.strip() and row.question.strip():
                latest.pop(row.trace_id, None)  # re-insert: the newest correction's place in the order
                latest[row.trace_id] = _chat(f"feedback:{row.id}", row.question, row.correction)
    return list(latest.values())


# --- split, hash, write ------------------------------------------------------------------------


def _prompt_key(example: TrainingExample) -> str:
    """Hash of the prompt, normalized so case and spacing differences count as the same prompt."""
    text = json.dumps(
        [
            (m["role"], " ".join(unicodedata.normalize("NFKC", m["content"]).casefold().split()))
            for m in example.messages[:-1]
        ],
        ensure_ascii=False,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def split_examples(
    examples: Sequence[TrainingExample], *, val_fraction: float = 0.1, seed: int = 0
) -> tuple[list[TrainingExample], list[TrainingExample]]:
    """(train, validation): a seeded split, each side in the input order.

    Rows are grouped by their normalized prompt, and a group goes to one side whole: a duplicate
    row, or the same question with another answer, in both sets would make validation loss measure
    recall of training rows rather than generalization. Groups are ordered by a seeded hash of the
    prompt, so the split does not change when the file's rows are reordered. With 2 rows or more and
    at least two distinct prompts, validation gets at least one row and training keeps at least one."""
    if not 0 < val_fraction < 1:
        raise LlmpilotError(
            f"the validation fraction must be between 0 and 1 (exclusive), got {val_fraction}"
        )
    groups: dict[str, list[int]] = {}
    for i, example in enumerate(examples):
        groups.setdefault(_prompt_key(example), []).append(i)
    n = len(examples)
    if n < 2 or len(groups) < 2:
        return list(examples), []
    target = min(max(1, round(n * val_fraction)), n - 1)
    order = sorted(groups, key=lambda k: hashlib.sha256(f"{seed}:{k}".encode()).hexdigest())
    chosen: set[int] = set()
    for key in order:
        if len(chosen) + len(groups[key]) <= target:
            chosen.update(groups[key])
            if len(chosen) == target:
                break
    if not chosen:  # every group is larger than the target: the smallest one still leaves training rows
        chosen.update(groups[min(order, key=lambda k: len(groups[k]))])
    train = [e for i, e in enumerate(examples) if i not in chosen]
    val = [e for i, e in enumerate(examples) if i in chosen]
    return train, val


def _canonical(examples: Iterable[TrainingExample]) -> str:
    return json.dumps(
        [list(e.messages) for e in examples], ensure_ascii=False, sort_keys=True, separators=(",", ":")
    )


def data_hash(examples: Iterable[TrainingExample]) -> str:
    """sha256 of the messages in order (not the sources): the same data from another file or
    folder hashes the same, and a reordered file does not (order changes what a run trains on)."""
    return hashlib.sha256(_canonical(examples).encode("utf-8")).hexdigest()


def write_jsonl(examples: Iterable[TrainingExample], path: Path) -> None:
    """OpenAI chat JSONL ({"messages": [...]} a line), which `load_training_file` reads back as is."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for example in examples:
            fh.write(json.dumps({"messages": list(example.messages)}, ensure_ascii=False) + "\n")
