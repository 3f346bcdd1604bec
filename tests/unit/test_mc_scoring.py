"""Log-likelihood scoring of multiple-choice items: a fake model with known log-probabilities (exact
accuracy, acc_norm against acc, ties), the tokenization rule shared by the backends, and (slow) the
llama.cpp backend's KV-cache reuse against scoring every choice from scratch."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from llmpilot.errors import ConfigError, LlmpilotError
from llmpilot.models.loglik import (
    encode_pair,
    fit_window,
    log_softmax,
    open_loglik_model,
    split_trailing_space,
)
from llmpilot.models.prompts import requests_for
from llmpilot.models.scoring import argmax, score_item, softmax
from llmpilot.models.types import LoglikModel, MCItem


class FakeModel:
    """Returns preset log-likelihoods per continuation text and one token per character."""

    name = "fake"

    def __init__(self, logliks: dict[str, float]) -> None:
        self.logliks = logliks
        self.contexts: list[str] = []

    def loglikelihood(self, context: str, continuations: Sequence[str]) -> list[tuple[float, int]]:
        self.contexts.append(context)
        return [(self.logliks[c], len(c)) for c in continuations]

    def count_tokens(self, text: str) -> int:
        return len(text)


def mc(choices: tuple[str, ...], answer: int, id: str = "x", subject: str = "s") -> MCItem:
    return MCItem(id=id, subject=subject, question="Q", choices=choices, answer=answer, lang="en")


def test_fake_is_a_loglik_model() -> None:
    assert isinstance(FakeModel({}), LoglikModel)


def test_exact_accuracy_on_known_logprobs() -> None:
    model = FakeModel({" A": -0.5, " B": -2.0, " C": -3.0, " D": -1.0})
    items = [mc(("w", "x", "y", "z"), answer) for answer in (0, 0, 3, 1)]
    scores = [score_item(model, item, "letters") for item in items]
    assert [s.pred for s in scores] == [0, 0, 0, 0]
    assert sum(s.correct for s in scores) / len(scores) == 0.5
    # letters all have length 1: acc_norm is acc
    assert [s.pred_norm for s in scores] == [s.pred for s in scores]
    first = scores[0]
    assert first.logliks == (-0.5, -2.0, -3.0, -1.0)
    assert first.lengths == (1, 1, 1, 1)
    total = sum(math.exp(v) for v in first.logliks)
    assert first.probs == pytest.approx(tuple(math.exp(v) / total for v in first.logliks), abs=1e-12)
    context, _ = requests_for(items[0], "letters", [])
    assert first.tokens == len(context) + 4 * 2
    assert first.seconds >= 0.0


def test_acc_norm_differs_from_acc() -> None:
    """A long ending with a lower total but a higher per-character log-likelihood wins acc_norm only."""
    short, long = "no.", "it rains all day long."
    model = FakeModel({" " + short: -6.0, " " + long: -11.0})
    score = score_item(model, mc((short, long), answer=1), "continuation")
    assert score.pred == 0  # -6 > -11
    assert score.pred_norm == 1  # -11/22 = -0.5 > -6/3 = -2
    assert score.lengths == (3, 22)
    assert not score.correct and score.correct_norm


def test_acc_norm_divides_by_characters_as_the_harness() -> None:
    """lm-evaluation-harness 0.4.13's acc_norm divides by len(choice) in characters (its acc_bytes uses
    UTF-8 bytes). On Korean text the two disagree: this case separates them."""
    ko, en = "가나", "abcd"  # 2 characters / 6 bytes, 4 characters / 4 bytes
    model = FakeModel({" " + ko: -3.0, " " + en: -5.0})
    score = score_item(model, mc((ko, en), answer=0), "continuation")
    # per character: -1.5 vs -1.25 -> en; per byte it would be -0.5 vs -1.25 -> ko
    assert score.lengths == (2, 4)
    assert score.pred_norm == 1
    assert score.pred == 0


def test_ties_go_to_the_lowest_index() -> None:
    model = FakeModel({" A": -1.0, " B": -0.25, " C": -0.25, " D": -3.0})
    score = score_item(model, mc(("p", "q", "r", "s"), 2), "letters")
    assert score.pred == 1 and score.pred_norm == 1
    assert argmax([0.0, 0.0]) == 0
    assert argmax([-1.0, 2.0, 2.0]) == int(np.argmax([-1.0, 2.0, 2.0]))
    assert score.probs[1] == score.probs[2]


def test_softmax_is_stable_for_very_negative_logliks() -> None:
    probs = softmax([-1000.0, -1001.0])
    assert probs == pytest.approx((1 / (1 + math.exp(-1)), math.exp(-1) / (1 + math.exp(-1))))


def test_wrong_number_of_results_is_an_error() -> None:
    class Short(FakeModel):
        def loglikelihood(self, context: str, continuations: Sequence[str]) -> list[tuple[float, int]]:
            return [(-1.0, 1)]

    with pytest.raises(LlmpilotError, match="returned 1 log-likelihoods for item x, which has 2"):
        score_item(Short({}), mc(("a", "b"), 0), "letters")


def test_shots_reach_the_model() -> None:
    model = FakeModel({" A": -1.0, " B": -2.0})
    shot = mc(("yes", "no"), 1, id="shot")
    score_item(model, mc(("a", "b"), 0), "letters", [shot])
    assert "Q\nA. yes\nB. no\nAnswer: B\n\nQ\nA. a\nB. b\nAnswer:" in model.contexts[0]


# --- the tokenization rule of the backends ---------------------------------------------------------


def char_encode(text: str) -> list[int]:
    """A toy tokenizer that merges " x" into one token, as BPE tokenizers attach a space to the next word."""
    tokens: list[int] = []
    i = 0
    while i < len(text):
        if text[i] == " " and i + 1 < len(text):
            tokens.append(1000 + ord(text[i + 1]))
            i += 2
        else:
            tokens.append(ord(text[i]))
            i += 1
    return tokens


def test_trailing_space_moves_to_the_continuation() -> None:
    assert split_trailing_space("Answer: ", "A") == ("Answer:", " A")
    assert split_trailing_space("Answer:", " A") == ("Answer:", " A")
    context, continuations = encode_pair(char_encode, "Answer: ", ["A", "B"], empty_context=0)
    assert context == char_encode("Answer:")
    assert continuations == [[1000 + ord("A")], [1000 + ord("B")]]


def test_continuation_tokens_are_those_past_the_context() -> None:
    context, continuations = encode_pair(char_encode, "ab", [" cd"], empty_context=0)
    assert context == [ord("a"), ord("b")]
    assert continuations == [[1000 + ord("c"), ord("d")]]


def test_empty_context_is_the_prefix_token() -> None:
    context, continuations = encode_pair(char_encode, "", ["xy"], empty_context=7)
    assert context == [7]
    assert continuations == [[ord("x"), ord("y")]]
    # a tokenizer that adds BOS itself: the BOS is the context, not part of the continuation
    context, continuations = encode_pair(lambda text: [7, *char_encode(text)], "", ["xy"], empty_context=7)
    assert context == [7]
    assert continuations == [[ord("x"), ord("y")]]


def test_fit_window_keeps_the_end_of_the_context() -> None:
    assert fit_window(list(range(10)), [[1, 2, 3]], window=6, name="m") == [6, 7, 8, 9]
    assert fit_window(list(range(3)), [[1]], window=6, name="m") == [0, 1, 2]
    with pytest.raises(LlmpilotError, match="does not fit the context window of 4 tokens"):
        fit_window([1, 2], [[1, 2, 3, 4, 5, 6]], window=4, name="m")


def test_log_softmax_in_float64() -> None:
    rows = log_softmax(np.array([[0.0, 0.0], [1000.0, 0.0]], dtype=np.float32))
    assert rows.dtype == np.float64
    assert rows[0] == pytest.approx([math.log(0.5)] * 2)
    assert rows[1][0] == pytest.approx(0.0) and rows[1][1] == pytest.approx(-1000.0)


def test_open_unknown_and_endpoint_specs_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"smollm2-135m.*hf:FOLDER"):
        open_loglik_model("no-such-model")
    with pytest.raises(ConfigError, match="endpoints are not supported for log-likelihood"):
        open_loglik_model("openai:gpt@http://localhost:8000/v1")
    with pytest.raises(LlmpilotError, match=r"no config\.json"):
        open_loglik_model(f"hf:{tmp_path}")
    with pytest.raises(LlmpilotError, match="no such file"):
        open_loglik_model(str(tmp_path / "missing.gguf"))
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF not really")
    with pytest.raises(LlmpilotError, match="could not load"):
        open_loglik_model(str(broken))


# --- llama.cpp: the KV-reuse path gives the from-scratch numbers ----------------------------------


@pytest.mark.slow
def test_llamacpp_context_reuse_matches_scoring_from_scratch() -> None:
    pytest.importorskip("llama_cpp")
    from llmpilot.generation.models import local_model_path
    from llmpilot.models.loglik import LlamaCppLoglik

    path = local_model_path("smollm2-135m")
    fast = LlamaCppLoglik(path, "smollm2-135m", n_ctx=512, n_threads=1)
    slow = LlamaCppLoglik(path, "smollm2-135m", n_ctx=512, n_threads=1, reuse_context=False)
    try:
        item = mc(("Paris", "London", "Berlin", "Rome"), 0)
        item = MCItem(
            id="geo",
            subject="geography",
            question="What is the capital of France?",
            choices=item.choices,
            answer=0,
            lang="en",
        )
        ko = MCItem(
            id="ko",
            subject="kobest_hellaswag",
            question="남자가 우산을 들고 밖으로 나간다.",
            choices=("비가 내리고 있다.", "남자는 수영을 한다."),
            answer=0,
            lang="ko",
        )
        for case, fmt in ((item, "letters"), (ko, "continuation")):
            context, continuations = requests_for(case, fmt, [])  # type: ignore[arg-type]
            reused = fast.loglikelihood(context, continuations)
            scratch = slow.loglikelihood(context, continuations)
            assert [n for _, n in reused] == [n for _, n in scratch]
            assert all(n >= 1 for _, n in reused)
            for (a, _), (b, _) in zip(reused, scratch, strict=True):
                assert a < 0 and abs(a - b) < 1e-3, (a, b)
        # a second call on the same model still starts from a clean cache
        again = fast.loglikelihood(*requests_for(item, "letters", []))
        assert again == fast.loglikelihood(*requests_for(item, "letters", []))
    finally:
        fast.close()
        slow.close()
