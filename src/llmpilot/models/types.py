"""The records that the model benchmarks pass between their stages (loader → scorer → runner → report).

One module owns them so that the loader, the scorer, the holistic table and the report agree on what a
benchmark item and a scored item are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

#: How an item becomes log-likelihood requests (the harness's two multiple-choice styles):
#: "letters" — MMLU: the question with lettered options, then "Answer:", scored on " A", " B", …;
#: "continuation" — HellaSwag: the context, scored on " " + each choice's text (acc_norm divides by
#: the choice's length in characters, as lm-evaluation-harness does).
PromptFormat = Literal["letters", "continuation"]


@dataclass(frozen=True)
class MCItem:
    """One multiple-choice question: the format of ../shared/data/mmlu-en and kobest-hellaswag-ko."""

    id: str
    subject: str
    question: str
    choices: tuple[str, ...]
    answer: int  # index into choices
    lang: str


@dataclass(frozen=True)
class Benchmark:
    name: str  # "mmlu-en", "kobest-hellaswag-ko", or the file's stem
    items: tuple[MCItem, ...]
    format: PromptFormat
    #: Where the items came from (a packaged file with its licence, or the user's path).
    source: str


@runtime_checkable
class LoglikModel(Protocol):
    """A model that can say how likely a continuation is after a context (GGUF via llama.cpp, a
    transformers folder, or an endpoint that returns prompt logprobs)."""

    #: The name the user gave (`--models A,B`): a catalog name, a path, …
    name: str

    def loglikelihood(self, context: str, continuations: Sequence[str]) -> list[tuple[float, int]]:
        """For each continuation: (sum of the log-probabilities of its tokens given the context and the
        continuation's earlier tokens, number of continuation tokens). Tokenized as the harness does:
        context and continuation encoded together, the continuation's tokens being those past the
        context's (trailing spaces of the context move into the continuation)."""
        ...

    def count_tokens(self, text: str) -> int: ...


@dataclass(frozen=True)
class ItemScore:
    """One item scored by one model."""

    item_id: str
    subject: str
    lang: str
    answer: int
    logliks: tuple[float, ...]  # per choice (sum of log-probabilities)
    #: Per choice, what acc_norm divides by: the continuation's length in characters (lm-eval 0.4.13
    #: divides by len(choice); its byte-length variant is a separate metric, acc_bytes).
    lengths: tuple[int, ...]
    pred: int  # argmax of logliks
    pred_norm: int  # argmax of logliks / lengths
    #: softmax over the choices' logliks: the model's probability of each choice (for calibration).
    probs: tuple[float, ...]
    tokens: int  # tokens the model processed for this item (context + continuations)
    seconds: float

    @property
    def correct(self) -> bool:
        return self.pred == self.answer

    @property
    def correct_norm(self) -> bool:
        return self.pred_norm == self.answer


@dataclass
class ModelRun:
    """One model on one benchmark (optionally under a perturbation, for robustness)."""

    model: str
    benchmark: str
    shots: int
    scores: list[ItemScore] = field(default_factory=list)
    seconds: float = 0.0  # scoring time, model load excluded
    load_seconds: float = 0.0
    #: Peak resident memory of the process while this model scored (bytes), and the model file's size.
    peak_rss_bytes: int | None = None
    model_bytes: int | None = None
    #: None for the clean run; "typos", "spacing", "jamo", … for a robustness run.
    perturbation: str | None = None
