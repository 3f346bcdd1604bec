"""Multiple-choice items → log-likelihood requests, built exactly as lm-evaluation-harness 0.4.13 builds them.

Scores are only comparable with published harness numbers (and with `llmpilot.models.harness`, the parity
check) when the prompt text is the same to the byte, so this module mirrors the harness's templates:

* "letters" — `tasks/mmlu/default/_default_template_yaml`: the subject's description
  ("The following are multiple choice questions (with answers) about {subject with spaces}.\\n\\n"), then
  `question.strip()` with "\\nA. choice" lines and "\\nAnswer:"; the continuations are " A", " B", …
  (target_delimiter " "). Any number of choices (the harness's template hard-codes four).
* "continuation" — `tasks/kobest/kobest_hellaswag.yaml`: the context itself, scored on " " + each choice.
  KoBEST items (subject "kobest_hellaswag") get the harness's "문장: " prefix
  (`utils.hellaswag_process_doc`); other continuation items use their question as written.

Few-shot examples are joined as the harness's `fewshot_context` joins them: each shot is
"text" + " " + "its answer" + "\\n\\n" (fewshot_delimiter), after the description and before the item.
"""

from __future__ import annotations

import string
from collections.abc import Sequence

from llmpilot.errors import ConfigError
from llmpilot.models.types import MCItem, PromptFormat

#: lm-evaluation-harness defaults (TaskConfig.target_delimiter / fewshot_delimiter).
TARGET_DELIMITER = " "
FEWSHOT_DELIMITER = "\n\n"
#: The harness's kobest_hellaswag `process_docs` prefixes the context with this ("sentence: ").
KOBEST_PREFIX = "문장: "
KOBEST_SUBJECT = "kobest_hellaswag"
LETTERS = string.ascii_uppercase


def description(item: MCItem, fmt: PromptFormat) -> str:
    """The task description that opens the prompt (MMLU has one per subject; KoBEST has none)."""
    if fmt != "letters":
        return ""
    subject = " ".join(item.subject.split("_"))
    return f"The following are multiple choice questions (with answers) about {subject}.\n\n"


def choice_labels(item: MCItem, fmt: PromptFormat) -> list[str]:
    """What is scored for each choice, without the target delimiter (the harness's `doc_to_choice`).

    Its length in characters is what the harness's acc_norm divides by."""
    if fmt == "letters":
        if len(item.choices) > len(LETTERS):
            raise ConfigError(
                f"item {item.id}: {len(item.choices)} choices, but the letters format has only "
                f"{len(LETTERS)} letters; use the continuation format for this benchmark"
            )
        return list(LETTERS[: len(item.choices)])
    if fmt == "continuation":
        return list(item.choices)
    raise ConfigError(f"unknown prompt format {fmt!r}; use 'letters' or 'continuation'")


def item_text(item: MCItem, fmt: PromptFormat) -> str:
    """The question part of the prompt (the harness's `doc_to_text`)."""
    if fmt == "letters":
        options = "".join(
            f"\n{letter}. {choice}" for letter, choice in zip(LETTERS, item.choices, strict=False)
        )
        return f"{item.question.strip()}{options}\nAnswer:"
    if fmt == "continuation":
        return f"{KOBEST_PREFIX}{item.question}" if item.subject == KOBEST_SUBJECT else item.question
    raise ConfigError(f"unknown prompt format {fmt!r}; use 'letters' or 'continuation'")


def requests_for(item: MCItem, fmt: PromptFormat, shots: Sequence[MCItem]) -> tuple[str, list[str]]:
    """(context, continuations) for `item`: the harness's `fewshot_context` and `construct_requests`."""
    if not item.choices:
        raise ConfigError(f"item {item.id}: no choices to score")
    parts = [description(item, fmt)]
    for shot in shots:
        answer = choice_labels(shot, fmt)[shot.answer]
        parts.append(f"{item_text(shot, fmt)}{TARGET_DELIMITER}{answer}{FEWSHOT_DELIMITER}")
    parts.append(item_text(item, fmt))
    return "".join(parts), [f"{TARGET_DELIMITER}{label}" for label in choice_labels(item, fmt)]


def fewshot_for(item: MCItem, pool: Sequence[MCItem], k: int) -> list[MCItem]:
    """K examples for `item` from `pool` (the benchmark's items): the same subject first, then the others,
    each in pool order, never the item itself (matched by id).

    Pool order rather than a random draw: the same item always gets the same shots, so runs of different
    models see the same prompts and their scores can be paired. On a single-subject file this is the
    harness's `first_n` sampler over the same split (it also drops the evaluated item)."""
    if k <= 0:
        return []
    others = [candidate for candidate in pool if candidate.id != item.id]
    same = [candidate for candidate in others if candidate.subject == item.subject]
    rest = [candidate for candidate in others if candidate.subject != item.subject]
    return (same + rest)[:k]
