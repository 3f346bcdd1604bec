"""Reading the model report's input files: `models bench --json` results and pairwise win-rate JSON.
Errors name the file, the line (for broken JSON) and the field, and say which command writes it."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from llmpilot.errors import LlmpilotError

_WRITERS = {
    "bench": "the --json file of `llmpilot models bench`",
    "pairwise": "the JSON of the pairwise win-rate comparison",
    "embedders": "the --json file of `llmpilot models bench --embedders`",
}


def read_json(path: Path, kind: str) -> dict[str, Any]:
    """A JSON object from `path`; `kind` ("bench", "pairwise" or "embedders") says in errors what was
    expected."""
    expected = _WRITERS[kind]
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LlmpilotError(f"{path}: no such file; expected {expected}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LlmpilotError(f"{path}: cannot be read ({exc}); expected {expected}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LlmpilotError(
            f"{path}: line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg}); expected {expected}"
        ) from None
    if not isinstance(data, dict):
        raise LlmpilotError(f"{path}: expected a JSON object ({expected}), found {type(data).__name__}")
    return data


def _require(data: dict[str, Any], key: str, kinds: type | tuple[type, ...], path: Path, what: str) -> Any:
    value = data.get(key)
    if value is None:
        raise LlmpilotError(f"{path}: {what}{key}: missing")
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise LlmpilotError(f"{path}: {what}{key}: {value!r} has the wrong type")
    if isinstance(value, float) and not math.isfinite(value):
        raise LlmpilotError(f"{path}: {what}{key}: {value!r} is not a finite number")
    return value


def load_bench(path: Path) -> dict[str, Any]:
    """A bench result, checked for what the report needs (the rest is checked by holistic_rows,
    whose errors name the benchmark)."""
    data = read_json(path, "bench")
    _require(data, "benchmark", str, path, "")
    models = _require(data, "models", dict, path, "")
    for name, entry in models.items():
        if not isinstance(entry, dict):
            raise LlmpilotError(f"{path}: models.{name}: expected an object with the model's scores")
        _require(entry, "accuracy", (int, float), path, f"models.{name}.")
        _require(entry, "n", int, path, f"models.{name}.")
    return data


def load_pairwise(path: Path) -> dict[str, Any]:
    data = read_json(path, "pairwise")
    for key in ("model_a", "model_b"):
        _require(data, key, str, path, "")
    _require(data, "n", int, path, "")
    if data.get("win_rate") is None and "win_rate" in data:
        return data  # no question was judged: the report notes it and ranks without it
    rate = _require(data, "win_rate", (int, float), path, "")
    if not 0.0 <= rate <= 1.0:
        raise LlmpilotError(f"{path}: win_rate: {rate} is outside 0..1")
    return data


def load_embedders(path: Path) -> dict[str, Any]:
    """An embedder benchmark result:
    {"embedders": {name: {task: {"main_score", "metric", …}}}, "tasks": {task: {"lang", "n", …}}}."""
    data = read_json(path, "embedders")
    embedders = _require(data, "embedders", dict, path, "")
    _require(data, "tasks", dict, path, "")
    for name, tasks in embedders.items():
        if not isinstance(tasks, dict):
            raise LlmpilotError(f"{path}: embedders.{name}: expected an object of task scores")
        for task, score in tasks.items():
            if not isinstance(score, dict):
                raise LlmpilotError(f"{path}: embedders.{name}.{task}: expected an object with main_score")
            _require(score, "main_score", (int, float), path, f"embedders.{name}.{task}.")
    return data
