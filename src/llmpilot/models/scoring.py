"""Scoring one multiple-choice item by log-likelihood: the harness's `process_results` for
`output_type: multiple_choice`.

* pred — argmax of the choices' summed log-probabilities (the harness's `acc`);
* pred_norm — argmax of loglik / len(choice) (the harness's `acc_norm`). lm-evaluation-harness 0.4.13
  divides by the choice's length in *characters*, the choice as `doc_to_choice` gives it ("A", or the
  ending without the leading space); dividing by UTF-8 bytes is its separate `acc_bytes`. We follow
  `acc_norm` so that the parity test holds on Korean text too, where the two differ;
* probs — softmax over the logliks (the harness's `prob_norm`, used for calibration).

Ties go to the lowest index, as numpy's argmax does in the harness.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from llmpilot.errors import LlmpilotError
from llmpilot.models.prompts import choice_labels, requests_for
from llmpilot.models.types import ItemScore, LoglikModel, MCItem, PromptFormat


def argmax(values: Sequence[float]) -> int:
    """Index of the largest value, the first one on ties (numpy.argmax's rule)."""
    best = 0
    for index, value in enumerate(values):
        if value > values[best]:
            best = index
    return best


def softmax(values: Sequence[float]) -> tuple[float, ...]:
    """Softmax in float64, shifted by the maximum so very negative logliks do not underflow to 0/0."""
    top = max(values)
    weights = [math.exp(value - top) for value in values]
    total = sum(weights)
    return tuple(weight / total for weight in weights)


def score_item(
    model: LoglikModel, item: MCItem, fmt: PromptFormat, shots: Sequence[MCItem] = ()
) -> ItemScore:
    """Ask `model` for each choice's log-likelihood after the harness's prompt and score the item.

    `tokens` counts what the model processed: the context once plus every continuation's tokens (the
    backends evaluate the context once and reuse it)."""
    context, continuations = requests_for(item, fmt, shots)
    started = time.perf_counter()
    results = model.loglikelihood(context, continuations)
    seconds = time.perf_counter() - started
    if len(results) != len(continuations):
        raise LlmpilotError(
            f"model {model.name}: returned {len(results)} log-likelihoods for item {item.id}, which has "
            f"{len(continuations)} choices"
        )
    logliks = tuple(float(loglik) for loglik, _ in results)
    # A choice of zero characters would divide by zero in the harness too (inf/nan); count it as one
    # character so an empty choice is scored rather than crashing the run.
    lengths = tuple(max(len(label), 1) for label in choice_labels(item, fmt))
    return ItemScore(
        item_id=item.id,
        subject=item.subject,
        lang=item.lang,
        answer=item.answer,
        logliks=logliks,
        lengths=lengths,
        pred=argmax(logliks),
        pred_norm=argmax([loglik / length for loglik, length in zip(logliks, lengths, strict=True)]),
        probs=softmax(logliks),
        tokens=model.count_tokens(context) + sum(count for _, count in results),
        seconds=seconds,
    )
