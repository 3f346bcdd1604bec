"""Parity of llmpilot's multiple-choice scorer with EleutherAI's lm-evaluation-harness on a real model.

SmolLM2-135M as a transformers folder (the dequantized copy of the catalog GGUF): the harness's `hf`
backend and llmpilot's TransformersLoglik on the same 8 mmlu-en items (letters, 0-shot) and 8
kobest-hellaswag-ko items (continuation) must build the same prompts and give the same per-item
predictions and log-likelihoods (within 1e-3). LlamaCppLoglik on the GGUF itself has the same weights but
other kernels (Q4_1 matmuls): its predictions must agree on most items and its log-likelihoods stay within
the tolerance measured for that pair (see GGUF_TOLERANCE_PER_TOKEN).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmpilot.models.prompts import requests_for
from llmpilot.models.scoring import score_item
from llmpilot.models.types import ItemScore, MCItem, PromptFormat

pytest.importorskip("lm_eval")
pytest.importorskip("transformers")
pytest.importorskip("llama_cpp")

#: A shared 2-core machine can be 10x slower than an idle one; the fixtures run three backends.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
#: Items per format: the shortest ones of each file, so the test costs seconds on an idle machine
#: (8 MMLU items are 8 forward passes; 4 KoBEST items are 16, with ~70-token endings).
N_ITEMS: dict[PromptFormat, int] = {"letters": 8, "continuation": 4}
Harness = dict[PromptFormat, dict[str, Any]]
GgufScores = dict[PromptFormat, list[tuple[ItemScore, list[int]]]]
#: Same weights, different kernels: llama.cpp's Q4_1 matmuls quantize the activations to 8 bits, the HF
#: copy runs float32. Measured |loglik(GGUF) - loglik(HF)| with SmolLM2-135M: up to 0.65 nats on
#: single-token MMLU letters (mean 0.2), up to 1.6 nats on ~60-token KoBEST endings. Allowed: a base
#: for any continuation plus a share per token.
GGUF_TOLERANCE_BASE = 1.0
GGUF_TOLERANCE_PER_TOKEN = 0.05


def shortest(path: Path, n: int) -> list[MCItem]:
    """The n items with the shortest text: the same items every run, and the fewest tokens to compute."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    items = [MCItem(**{**row, "choices": tuple(row["choices"])}) for row in rows]
    return sorted(items, key=lambda it: (len(it.question) + sum(map(len, it.choices)), it.id))[:n]


def write_jsonl(items: list[MCItem], path: Path) -> Path:
    lines = [json.dumps({**it.__dict__, "choices": list(it.choices)}, ensure_ascii=False) for it in items]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def hf_folder() -> Iterator[Path]:
    import torch

    from llmpilot.finetune.base import materialize, resolve_base

    # One thread: torch's thread pool spin-waits, which on a busy machine costs more than it gains.
    # Restored afterwards: the setting is process-wide and the rest of the suite runs in this process.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield materialize(resolve_base("smollm2-135m"))
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def cases() -> dict[PromptFormat, list[MCItem]]:
    return {
        "letters": shortest(SHARED / "mmlu-en" / "questions.jsonl", N_ITEMS["letters"]),
        "continuation": shortest(SHARED / "kobest-hellaswag-ko" / "questions.jsonl", N_ITEMS["continuation"]),
    }


@pytest.fixture(scope="module")
def harness(
    hf_folder: Path, cases: dict[PromptFormat, list[MCItem]], tmp_path_factory: pytest.TempPathFactory
) -> Harness:
    from llmpilot.models.harness import run_lm_eval

    folder = tmp_path_factory.mktemp("bench")
    return {
        fmt: run_lm_eval(hf_folder, write_jsonl(items, folder / f"{fmt}.jsonl"), fmt, limit=None, shots=0)
        for fmt, items in cases.items()
    }


@pytest.fixture(scope="module")
def ours_hf(
    hf_folder: Path, cases: dict[PromptFormat, list[MCItem]]
) -> Iterator[dict[PromptFormat, list[ItemScore]]]:
    from llmpilot.models.loglik import TransformersLoglik

    model = TransformersLoglik(hf_folder, "smollm2-135m-hf")
    yield {fmt: [score_item(model, item, fmt) for item in items] for fmt, items in cases.items()}
    model.close()


@pytest.fixture(scope="module")
def ours_gguf(
    cases: dict[PromptFormat, list[MCItem]],
) -> Iterator[dict[PromptFormat, list[tuple[ItemScore, list[int]]]]]:
    from llmpilot.models.loglik import open_loglik_model

    model = open_loglik_model("smollm2-135m", n_ctx=1024, n_threads=1)

    def continuation_tokens(item: MCItem, fmt: PromptFormat) -> list[int]:
        # The harness's rule (the contexts have no trailing space): tokens of context + continuation
        # past the context's own tokens.
        context, continuations = requests_for(item, fmt, [])
        base = model.count_tokens(context)
        return [model.count_tokens(context + continuation) - base for continuation in continuations]

    scored = {}
    for fmt, items in cases.items():
        scored[fmt] = [(score_item(model, item, fmt), continuation_tokens(item, fmt)) for item in items]
    yield scored
    model.close()


@pytest.mark.parametrize("fmt", ["letters", "continuation"])
def test_same_prompts_as_the_harness(
    fmt: PromptFormat, cases: dict[PromptFormat, list[MCItem]], harness: Harness
) -> None:
    for item, reference in zip(cases[fmt], harness[fmt]["items"], strict=True):
        assert reference["id"] == item.id
        context, continuations = requests_for(item, fmt, [])
        assert reference["context"] == context
        assert reference["continuations"] == continuations


@pytest.mark.parametrize("fmt", ["letters", "continuation"])
def test_transformers_backend_matches_the_harness(
    fmt: PromptFormat, harness: Harness, ours_hf: dict[PromptFormat, list[ItemScore]]
) -> None:
    reference = harness[fmt]
    assert reference["n"] == N_ITEMS[fmt]
    for ours, theirs in zip(ours_hf[fmt], reference["items"], strict=True):
        assert ours.item_id == theirs["id"]
        assert ours.logliks == pytest.approx(theirs["logliks"], abs=1e-3)
        assert ours.pred == theirs["pred"]
        assert ours.pred_norm == theirs["pred_norm"]
        assert float(ours.correct) == theirs["acc"]
        assert float(ours.correct_norm) == theirs["acc_norm"]
    scores = ours_hf[fmt]
    assert sum(s.correct for s in scores) / len(scores) == pytest.approx(reference["acc"])
    assert sum(s.correct_norm for s in scores) / len(scores) == pytest.approx(reference["acc_norm"])


@pytest.mark.parametrize("fmt", ["letters", "continuation"])
def test_gguf_backend_is_close_to_the_harness(
    fmt: PromptFormat, harness: Harness, ours_gguf: GgufScores
) -> None:
    agree = 0
    excess: list[tuple[float, str, float, float, int]] = []
    for (ours, tokens), theirs in zip(ours_gguf[fmt], harness[fmt]["items"], strict=True):
        assert ours.item_id == theirs["id"]
        for mine, reference, n in zip(ours.logliks, theirs["logliks"], tokens, strict=True):
            allowed = GGUF_TOLERANCE_BASE + GGUF_TOLERANCE_PER_TOKEN * n
            excess.append((abs(mine - reference) - allowed, ours.item_id, mine, reference, n))
        agree += ours.pred == theirs["pred"]
    worst = max(excess)
    assert worst[0] <= 0, (
        f"GGUF loglik too far from the harness: (excess, item, ours, harness, tokens) = {worst}"
    )
    assert agree >= N_ITEMS[fmt] - 2
