"""Training examples in the shape the served model will see them: the project's prompt template with
the sources retrieved for each question (retrieval-augmented fine-tuning, RAFT-style).

A model fine-tuned on bare question -> answer pairs meets a long prompt of numbered sources at
serving time and behaves unlike it did in training; trained on the served prompt, it learns to answer
from sources in the house style. This is the training half of the "hybrid" strategy.
"""

from __future__ import annotations

from collections.abc import Sequence

from llmpilot.errors import DatasetError
from llmpilot.finetune.data import TrainingExample
from llmpilot.generation.prompting import format_context
from llmpilot.pipeline import Pipeline


def question_of(example: TrainingExample) -> str:
    users = [m["content"] for m in example.prompt_messages if m.get("role") == "user"]
    if not users:
        raise DatasetError(f"{example.source}: no user message to retrieve sources for")
    return users[-1]


def with_retrieved_context(
    pipeline: Pipeline, examples: Sequence[TrainingExample], k: int | None = None
) -> list[TrainingExample]:
    """Each example's last question re-written as the served prompt (template + fenced sources from
    `pipeline`'s retrieval), its answer kept; earlier turns are dropped, as the served prompt has none."""
    rewritten: list[TrainingExample] = []
    limit = pipeline.cfg.prompt.max_context_chars
    for example in examples:
        question = question_of(example)
        context, _ = format_context(pipeline.search(question, k), limit)
        messages = pipeline.template.messages(question, context)
        rewritten.append(
            TrainingExample(
                source=example.source,
                messages=(*messages, {"role": "assistant", "content": example.answer}),
            )
        )
    return rewritten
