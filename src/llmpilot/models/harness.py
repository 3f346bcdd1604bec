"""Running EleutherAI's lm-evaluation-harness on a local benchmark file, offline: the reference that
llmpilot's own scorer is checked against (tests/integration/test_lm_eval_parity.py).

The harness's MMLU and KoBEST tasks read their data from the Hugging Face hub; here each PromptFormat is a
task config for our JSONL format (`dataset_path: json` with `data_files`), whose Jinja templates are the
harness's own templates generalised to any number of choices — written independently of
`llmpilot.models.prompts`, so that a drift between the two shows up as a parity failure:

* letters = tasks/mmlu/default/_default_template_yaml + the per-subject description of
  tasks/mmlu/_generate_configs.py;
* continuation = tasks/kobest/kobest_hellaswag.yaml (its `process_docs` adds "문장: " to KoBEST contexts).

Few-shot examples come from the same file through the harness's `first_n` sampler (the evaluated item is
left out), which is what `prompts.fewshot_for` picks on a single-subject file.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path
from typing import Any

from llmpilot.errors import ConfigError, DatasetError, ModelNotAvailableError
from llmpilot.models.types import PromptFormat

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

#: The harness's MMLU template, with a loop over the choices instead of four fixed lines.
LETTERS_TEXT = (
    "{{question.strip()}}{% for choice in choices %}\n" + "{{ '" + _LETTERS + "'[loop.index0] }}. {{choice}}"
    "{% endfor %}\nAnswer:"
)
LETTERS_CHOICES = "{{ ('" + _LETTERS + "'[:choices|length]) | list }}"
LETTERS_DESCRIPTION = (
    "The following are multiple choice questions (with answers) about "
    "{{ subject.split('_') | join(' ') }}.\n\n"
)
CONTINUATION_TEXT = "{% if subject == 'kobest_hellaswag' %}문장: {% endif %}{{question}}"


def task_config(bench_file: Path, fmt: PromptFormat, name: str | None = None) -> dict[str, Any]:
    """The harness task config (what a task YAML holds) for `bench_file` in format `fmt`."""
    common: dict[str, Any] = {
        "task": name or f"llmpilot_{fmt}",
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(bench_file.resolve())}},
        "test_split": "test",
        "fewshot_split": "test",
        "fewshot_config": {"sampler": "first_n"},
        "output_type": "multiple_choice",
        "doc_to_target": "answer",
        "target_delimiter": " ",
        "fewshot_delimiter": "\n\n",
        "metric_list": [
            {"metric": "acc", "aggregation": "mean", "higher_is_better": True},
            {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True},
        ],
        "metadata": {"version": 1.0},
    }
    if fmt == "letters":
        return {
            **common,
            "description": LETTERS_DESCRIPTION,
            "doc_to_text": LETTERS_TEXT,
            "doc_to_choice": LETTERS_CHOICES,
        }
    if fmt == "continuation":
        return {**common, "doc_to_text": CONTINUATION_TEXT, "doc_to_choice": "choices"}
    raise ConfigError(f"unknown prompt format {fmt!r}; use 'letters' or 'continuation'")


def _offline() -> None:
    # The json builder is part of `datasets`; nothing else may be fetched (no hub, no metrics downloads).
    for variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ[variable] = "1"


def run_lm_eval(
    model_folder: Path,
    bench_file: Path,
    fmt: PromptFormat,
    *,
    limit: int | None = None,
    shots: int = 0,
) -> dict[str, Any]:
    """Score the first `limit` items of `bench_file` with the harness's `hf` backend (CPU, float32).

    Returns {"acc", "acc_norm", "n", "items": [{"id", "answer", "logliks", "pred", "pred_norm",
    "acc", "acc_norm", "context", "continuations"}, …]} with items in file order."""
    if not (model_folder / "config.json").is_file():
        raise ModelNotAvailableError(f"{model_folder}: not a Hugging Face model folder (no config.json)")
    if not bench_file.is_file():
        raise DatasetError(f"{bench_file}: no such benchmark file")
    _offline()
    import numpy as np
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    config = task_config(bench_file, fmt)
    # The harness logs to stdout/stderr at length; the caller wants the numbers.
    with contextlib.redirect_stdout(io.StringIO()):
        results = simple_evaluate(
            model="hf",
            model_args={"pretrained": str(model_folder), "dtype": "float32"},
            tasks=[config],
            num_fewshot=shots,
            batch_size=1,
            device="cpu",
            limit=limit,
            log_samples=True,
            bootstrap_iters=0,
            task_manager=TaskManager(include_defaults=False),
        )
    if results is None:  # only on non-zero ranks of a distributed run
        raise ConfigError("lm-evaluation-harness returned no results")
    task = config["task"]
    items: list[dict[str, Any]] = []
    for sample in sorted(results["samples"][task], key=lambda s: s["doc_id"]):
        logliks = [float(response[0]) for response in sample["filtered_resps"]]
        # `arguments` holds one (context, continuation) pair per choice.
        pairs = [(str(context), str(continuation)) for context, continuation in sample["arguments"]]
        choices = [continuation for _, continuation in pairs]
        labels = [choice[1:] for choice in choices]  # without the target delimiter
        items.append(
            {
                "id": sample["doc"]["id"],
                "answer": int(sample["doc"]["answer"]),
                "logliks": logliks,
                "pred": int(np.argmax(logliks)),
                "pred_norm": int(np.argmax(np.array(logliks) / np.array([float(len(x)) for x in labels]))),
                "acc": float(sample["acc"]),
                "acc_norm": float(sample["acc_norm"]),
                "context": pairs[0][0] if pairs else "",
                "continuations": choices,
            }
        )
    metrics = results["results"][task]
    return {
        "acc": float(metrics["acc,none"]),
        "acc_norm": float(metrics["acc_norm,none"]),
        "n": len(items),
        "items": items,
    }
