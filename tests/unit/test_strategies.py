"""`llmpilot strategies`: the split, the scoring and recommendation, results.json (read by the advisor)
and resuming. Logic tests answer with a fake generator and a fake trainer; one slow test runs SmolLM2."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from llmpilot import registry
from llmpilot.config import GeneratorConfig
from llmpilot.errors import DatasetError
from llmpilot.finetune.advisor import load_measured
from llmpilot.finetune.strategies import PredictionLog, StrategyRun, StrategySettings, run_strategies
from llmpilot.finetune.strategy_data import Item, load_pairs, split_items
from llmpilot.finetune.strategy_scoring import paired_tests, recommend


class EchoGenerator:
    """Answers with the first words of the last user message (longer with an adapter: "learned" to say
    more); counts its calls so a resumed run can be checked for doing nothing twice."""

    calls = 0

    def __init__(self, cfg: GeneratorConfig) -> None:
        self.words = 12 if cfg.adapter else 6
        self.model_id = "echo"

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def generate(self, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float) -> str:
        EchoGenerator.calls += 1
        user = [m["content"] for m in messages if m["role"] == "user"][-1]
        return " ".join(user.split()[: self.words])

    def stream(self, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float) -> Any:
        yield self.generate(messages, max_tokens=max_tokens, temperature=temperature)


if "test-strategies-echo" not in registry.generators.names():
    registry.generators.register("test-strategies-echo")(EchoGenerator)

WORDS = ("model", "data", "training", "results", "method", "network", "learning", "graph", "robust", "sparse")


def _pairs(path: Path, n: int = 16) -> Path:
    rows = []
    for i in range(n):
        words = [WORDS[(i + j) % len(WORDS)] for j in range(10)]
        document = f"We study {' '.join(words)} in setting {i}. " + " ".join(reversed(words)) + "."
        rows.append({"id": f"p{i}", "document": document, "summary": f"We study {' '.join(words[:5])}."})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _fake_train(self: StrategyRun, name: str, train: Sequence[Any], val: Sequence[Any]) -> Any:
    folder = self.out / "adapters" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adapter_model.safetensors").write_bytes(b"x" * 2048)
    return folder, {"seconds": 3.5, "peak_memory_mb": 123.0, "train_rows": len(train), "val_rows": len(val)}


def _settings(**kw: Any) -> StrategySettings:
    base = {
        "task": "summarize",
        "test_size": 5,
        "val_size": 3,
        "train_size": 8,
        "generator": "test-strategies-echo",
    }
    return StrategySettings(**{**base, **kw})


# --- split ---------------------------------------------------------------------------------------


def _items(n: int) -> list[Item]:
    items = [Item(f"i{k}", f"input number {k}", (f"ref {k}",)) for k in range(n)]
    # duplicates of i0 and i1 (same input modulo case and spacing), under other ids
    return [*items, Item("dup0", "Input  number 0", ("r",)), Item("dup1", "INPUT NUMBER 1", ("r",))]


def test_split_is_seeded_order_independent_and_does_not_leak() -> None:
    items = _items(30)
    a = split_items(items, test_size=6, val_size=3, train_size=None, seed=1)
    b = split_items(list(reversed(items)), test_size=6, val_size=3, train_size=None, seed=1)
    ids = [{i.id for i in side} for side in (a.test, a.val, a.train)]
    assert ids == [{i.id for i in side} for side in (b.test, b.val, b.train)]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert sum(map(len, ids)) == len(items)
    for pair in (("i0", "dup0"), ("i1", "dup1")):  # a duplicate input never straddles two sides
        assert sum(all(p in side for p in pair) for side in ids) == 1
    other = split_items(items, test_size=6, val_size=3, train_size=None, seed=2)
    assert {i.id for i in other.test} != ids[0]
    capped = split_items(items, test_size=6, val_size=3, train_size=5, seed=1)
    assert len(capped.train) <= 5 and {i.id for i in capped.test} == ids[0]


def test_split_refuses_too_few_items() -> None:
    with pytest.raises(DatasetError, match="too few"):
        split_items(_items(3), test_size=4, val_size=0, train_size=None, seed=0)


def test_bad_pairs_file_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"id": "a", "document": "d", "summary": "s"}\n{"id": "b", "document": ""}\nnot json\n')
    with pytest.raises(DatasetError) as err:
        load_pairs(path)
    assert f"{path}:2: field 'document' is missing or empty" in str(err.value)
    assert f"{path}:3: not valid JSON" in str(err.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match=r"no pairs\.jsonl"):
        load_pairs(empty)


# --- scoring -------------------------------------------------------------------------------------


def test_paired_tests_diff_is_a_minus_b_for_every_pair() -> None:
    per_item = {
        "prompt": {"rougeL": [0.1] * 10},
        "rag": {"rougeL": [0.5] * 10},
        "finetune": {"rougeL": [0.1, 0.2] * 5},
    }
    paired = paired_tests(per_item, "rougeL")
    assert set(paired) == {"prompt vs rag", "prompt vs finetune", "rag vs finetune"}
    assert paired["prompt vs rag"]["diff"] == pytest.approx(-0.4)
    assert paired["prompt vs rag"]["p_value"] < 0.05
    assert paired["rag vs finetune"]["diff"] == pytest.approx(0.35)
    same = paired_tests({"prompt": {"rougeL": [0.3] * 5}, "rag": {"rougeL": [0.3] * 5}}, "rougeL")
    assert same["prompt vs rag"] == {"metric": "rougeL", "diff": 0.0, "ci": [0.0, 0.0], "p_value": 1.0}


def _test(a: str, b: str, p: float) -> dict[str, dict[str, Any]]:
    return {f"{a} vs {b}": {"metric": "rougeL", "diff": 0.0, "p_value": p}}


def test_recommend_picks_the_simplest_not_significantly_worse() -> None:
    means = {"prompt": 0.10, "rag": 0.28, "finetune": 0.20, "hybrid": 0.30}
    paired = {
        **_test("prompt", "hybrid", 0.001),
        **_test("rag", "hybrid", 0.40),
        **_test("finetune", "hybrid", 0.01),
    }
    name, reason = recommend(means, paired, "rougeL")
    assert name == "rag" and "p = 0.4" in reason and "hybrid" in reason
    paired["rag vs hybrid"]["p_value"] = 0.02  # now every simpler one is significantly worse
    name, reason = recommend(means, paired, "rougeL")
    assert name == "hybrid" and "significantly worse" in reason
    assert recommend({"prompt": 0.5, "rag": 0.4}, _test("prompt", "rag", 0.001), "rougeL")[0] == "prompt"
    # equal means: the simpler one is "best"
    assert recommend({"prompt": 0.3, "rag": 0.3}, _test("prompt", "rag", 1.0), "rougeL")[0] == "prompt"


# --- the run ---------------------------------------------------------------------------------------


def test_results_json_is_what_the_advisor_reads_and_a_rerun_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(StrategyRun, "_train", _fake_train)
    data = _pairs(tmp_path / "pairs.jsonl")
    out = tmp_path / "out"
    EchoGenerator.calls = 0
    results = run_strategies(data, out, _settings(), progress=False)
    first_calls = EchoGenerator.calls
    # 2 prompt variants x 3 val items + 4 strategies x 5 test items
    assert first_calls == 2 * 3 + 4 * 5
    measured = load_measured(out)
    assert measured["primary_metric"] == "rougeL" and measured["task"] == "summarize"
    assert set(measured["strategies"]) == {"prompt", "rag", "finetune", "hybrid"}
    for entry in measured["strategies"].values():
        assert {"rougeL", "chrf", "bleu", "meteor"} <= set(entry["metrics"])
        lo, hi = entry["ci"]["rougeL"]
        assert lo <= entry["metrics"]["rougeL"] <= hi
        assert {
            "train_seconds",
            "seconds_per_answer",
            "prompt_tokens_per_answer",
            "peak_memory_mb",
            "disk_mb",
        } <= set(entry["cost"])
        assert entry["complexity"]["n_moving_parts"] == len(entry["complexity"]["moving_parts"])
    assert measured["strategies"]["finetune"]["cost"]["train_seconds"] == 3.5
    assert measured["strategies"]["prompt"]["cost"]["train_seconds"] == 0.0
    assert (
        measured["strategies"]["hybrid"]["cost"]["disk_mb"]
        > measured["strategies"]["finetune"]["cost"]["disk_mb"]
    )
    assert len(measured["paired"]) == 6 and all(t["metric"] == "rougeL" for t in measured["paired"].values())
    assert measured["recommended"] in measured["strategies"] and measured["recommendation_reason"]
    tuning = measured["strategies"]["prompt"]["prompt_tuning"]
    assert set(tuning["variants"]) == {"zero-shot", "2-shot"} and tuning["picked"] in tuning["variants"]
    # the split leaks nothing: rag's exemplars come from train only
    split = measured["split"]
    assert not set(split["test_ids"]) & (set(split["train_ids"]) | set(split["val_ids"]))
    assert "<svg" in (out / "report.html").read_text(encoding="utf-8")
    assert results["recommended"] == measured["recommended"]

    # a re-run answers nothing again and gives the same figures
    again = run_strategies(data, out, _settings(), progress=False)
    assert EchoGenerator.calls == first_calls
    assert again["strategies"]["rag"]["metrics"] == results["strategies"]["rag"]["metrics"]

    # an interrupted run (a log cut mid-line, one answer missing) redoes only the missing answer
    log = out / "predictions.jsonl"
    lines = log.read_text(encoding="utf-8").splitlines()
    log.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20], encoding="utf-8")
    assert PredictionLog(log).skipped == 1
    run_strategies(data, out, _settings(), progress=False)
    assert EchoGenerator.calls == first_calls + 1

    # a changed setting (answer budget) is a new settings hash: answered again
    run_strategies(data, out, _settings(max_tokens=32, strategies=("prompt",)), progress=False)
    assert EchoGenerator.calls == first_calls + 1 + 2 * 3 + 5


def test_qa_rag_answers_through_the_answer_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """qa: rag retrieves from the ingested corpus and answers through Responder.for_scoring."""
    monkeypatch.setattr(StrategyRun, "_train", _fake_train)
    folder = tmp_path / "ds"
    folder.mkdir()
    topics = ["warranty", "battery", "charger", "invoice", "shipping", "returns", "display", "firmware"]
    corpus = [
        {"id": f"d{i}", "title": t, "text": f"The {t} policy: {t} questions go to team {i}."}
        for i, t in enumerate(topics)
    ]
    queries = [
        {"id": f"q{i}", "text": f"Who handles {t} questions?", "answers": [f"Team {i} handles {t}."]}
        for i, t in enumerate(topics)
    ]
    qrels = [{"query_id": f"q{i}", "doc_id": f"d{i}", "score": 1} for i in range(len(topics))]
    for name, rows in (("corpus", corpus), ("queries", queries), ("qrels", qrels)):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    config = tmp_path / "rag.yaml"
    # BM25 only; abstain_below 0 so the tiny corpus's low BM25 support never skips generation.
    config.write_text(
        "transforms: {pii: [], dedup_exact: false, dedup_near: false}\n"
        "retrieval: {mode: keyword, top_k: 2}\nanswer: {abstain_below: 0.0}\n"
    )
    settings = _settings(task="qa", test_size=3, val_size=1, train_size=None, shots=1, config=config)
    results = run_strategies(folder, tmp_path / "out", settings, progress=False)
    assert results["strategies"]["rag"]["complexity"]["data_needed"]["corpus_documents"] == len(topics)
    assert results["strategies"]["rag"]["cost"]["disk_mb"] > 0
    rows = [json.loads(line) for line in (tmp_path / "out" / "predictions.jsonl").read_text().splitlines()]
    rag = [r for r in rows if r["strategy"] == "rag"]
    assert len(rag) == 3 and all(r["prompt_tokens"] > 0 and not r["abstained"] for r in rag)
    # the prompt held the retrieved source (fenced by the answer path's template)
    assert (
        results["strategies"]["rag"]["cost"]["prompt_tokens_per_answer"]
        > (results["strategies"]["prompt"]["cost"]["prompt_tokens_per_answer"])
    )
    load_measured(tmp_path / "out")


@pytest.mark.slow
def test_end_to_end_with_smollm2(tmp_path: Path) -> None:
    """The real thing, tiny: SmolLM2-135M answers, LoRA trains 2 steps; results.json + report.html."""
    pytest.importorskip("peft")
    data = _pairs(tmp_path / "pairs.jsonl", n=9)
    # One torch thread: on a loaded 2-core box, two threads made these training steps ~8x slower.
    settings = StrategySettings(
        task="summarize",
        test_size=3,
        val_size=0,
        train_size=6,
        max_steps=2,
        batch_size=2,
        max_tokens=8,
        max_length=128,
        shots=0,
        n_threads=1,
    )
    out = tmp_path / "out"
    results = run_strategies(data, out, settings, progress=False)
    load_measured(out)
    assert (out / "report.html").is_file()
    assert all((out / "adapters").glob("finetune-*/adapter_config.json"))
    for name in ("finetune", "hybrid"):
        assert results["strategies"][name]["training"]["steps"] == 2
        assert results["strategies"][name]["cost"]["train_seconds"] > 0
    assert all(entry["cost"]["seconds_per_answer"] > 0 for entry in results["strategies"].values())


def test_cli_rejects_a_bad_task_and_a_bad_dataset_by_name(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from llmpilot.finetune.cli_strategies import strategies_command

    app = typer.Typer()
    app.command("strategies")(strategies_command)
    app.command("noop")(lambda: None)  # two commands: `strategies` stays a subcommand
    runner = CliRunner()
    result = runner.invoke(
        app, ["strategies", "--dataset", str(tmp_path), "--task", "translate", "--out", "o"]
    )
    assert isinstance(result.exception, DatasetError) and "--task 'translate'" in str(result.exception)
    result = runner.invoke(
        app, ["strategies", "--dataset", str(tmp_path), "--task", "summarize", "--out", "o"]
    )
    assert isinstance(result.exception, DatasetError) and f"{tmp_path}: no pairs.jsonl" in str(
        result.exception
    )
