"""The pure parts of benchmarks/finetune.py: the split, the abstract cut, step timing, the table."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_finetune", ROOT / "benchmarks" / "finetune.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_finetune"] = module
    spec.loader.exec_module(module)
    return module


bench = _bench()


def _rows(n: int) -> list[dict[str, str]]:
    return [{"id": f"r{i:03d}", "document": f"doc {i}", "summary": f"sum {i}"} for i in range(n)]


def test_split_is_disjoint_sized_and_independent_of_file_order() -> None:
    rows = _rows(50)
    train, val, test = bench.split_rows(rows, (30, 5, 10), seed=3)
    assert (len(train), len(val), len(test)) == (30, 5, 10)
    ids = [r["id"] for r in [*train, *val, *test]]
    assert len(set(ids)) == 45
    again = bench.split_rows(list(reversed(rows)), (30, 5, 10), seed=3)
    assert [r["id"] for r in again[2]] == [r["id"] for r in test]
    other = bench.split_rows(rows, (30, 5, 10), seed=4)
    assert [r["id"] for r in other[2]] != [r["id"] for r in test]


def test_split_rejects_sizes_that_do_not_fit() -> None:
    with pytest.raises(ValueError, match="at most 10"):
        bench.split_rows(_rows(10), (8, 2, 1), seed=0)
    with pytest.raises(ValueError):
        bench.split_rows(_rows(10), (8, 0, 1), seed=0)


def _words(text: str) -> list[int]:
    # A toy tokenizer: one token per character, so the limit is easy to check.
    return [ord(c) for c in text]


def _unwords(ids: list[int]) -> str:
    return "".join(chr(i) for i in ids)


def test_cut_keeps_short_text_and_cuts_long_text_at_a_word() -> None:
    assert bench.cut_to_tokens("short text", 50, _words, _unwords) == "short text"
    cut = bench.cut_to_tokens("alpha beta gamma delta", 13, _words, _unwords)
    assert cut == "alpha beta ..."
    assert len(cut.removesuffix(" ...")) <= 13


def test_step_seconds_leaves_out_the_interval_across_validation() -> None:
    # Two epochs of 3 steps; the gap between step 3 and 4 holds a 10-second validation pass.
    times = [1.0, 2.0, 3.0, 13.0, 14.0, 15.0]
    assert bench.step_seconds(times, [3, 6]) == [1.0, 1.0, 1.0, 1.0]
    assert bench.step_seconds([5.0], [1]) == []


def test_example_is_an_instruction_chat_with_the_summary_as_answer() -> None:
    e = bench.example({"id": "x", "document": "D", "summary": "S"}, "cut abstract")
    assert e.answer == "S"
    assert e.prompt_messages == [
        {"role": "user", "content": f"{bench.INSTRUCTION}\n\nAbstract: cut abstract"}
    ]
    assert e.source == "scitldr:x"


def test_load_pairs_names_the_bad_line(tmp_path: Path) -> None:
    good = {"id": "a", "document": "d", "summary": "s", "lang": "en"}
    path = tmp_path / "pairs.jsonl"
    path.write_text(
        json.dumps(good) + "\n\n" + json.dumps({"id": "b", "document": "d"}) + "\n", encoding="utf-8"
    )
    with pytest.raises(SystemExit, match=r"pairs.jsonl:3: .*summary"):
        bench.load_pairs(path)
    path.write_text(json.dumps(good) + "\n", encoding="utf-8")
    assert bench.load_pairs(path) == [{"id": "a", "document": "d", "summary": "s"}]


def _cell(mean: float) -> dict[str, float]:
    return {"mean": mean, "ci_low": mean - 0.1, "ci_high": mean + 0.1}


def test_table_and_comparison_against_none() -> None:
    scores = {
        "none": {m: [0.1, 0.2, 0.1, 0.2] for m in bench.METRICS},
        "lora": {m: [0.5, 0.6, 0.5, 0.7] for m in bench.METRICS},
    }
    vs = bench.compare(scores, seed=0)
    assert set(vs) == {"lora"}
    assert vs["lora"]["rougeL"]["mean_diff"] == pytest.approx(0.425)
    assert vs["lora"]["rougeL"]["p_value"] < 0.05
    payload = {
        "methods": {
            "none": {
                "val_loss": 3.0,
                "scores": {m: _cell(0.15) for m in bench.METRICS},
                "peak_rss_mb": 900.0,
            },
            "lora": {
                "val_loss": 2.0,
                "scores": {m: _cell(0.575) for m in bench.METRICS},
                "peak_rss_mb": 1500.0,
                "step_seconds_median": 1.25,
                "training": {"peak_memory_mb": 1400.0, "trainable_parameters": 4_884_480},
            },
        },
        "vs_none": vs,
    }
    rows = bench.table_rows(payload)
    assert rows[1][:2] == ["none", "3.000"] and rows[1][5] == "-" and rows[1][8] == "0"
    assert rows[2][2] == "0.575 [0.475, 0.675]"
    assert rows[2][6:] == ["1.25", "1400", "4,884,480"]
    assert bench.markdown_table(payload).count("\n") == 3


def test_first_line_is_what_gets_scored() -> None:
    assert bench.first_line("\n  We show X.\n\n1. Intro\n2. More") == "We show X."
    assert bench.first_line("one line") == "one line"
    assert bench.first_line(" \n ") == ""


def test_reuse_takes_a_result_only_for_the_identical_spec(tmp_path: Path) -> None:
    spec = {"method": "lora", "steps": 3, "test_prompts": [[{"role": "user", "content": "q"}]]}
    (tmp_path / "spec-lora.json").write_text(json.dumps(spec), encoding="utf-8")
    (tmp_path / "result-lora.json").write_text(
        json.dumps({"method": "lora", "val_loss": 1.5}), encoding="utf-8"
    )
    (tmp_path / "result-lora.json").write_text(
        json.dumps({"method": "lora", "val_loss": 1.5, "generation_complete": True}), encoding="utf-8"
    )
    done = bench.run_child({**spec, "generate_budget_s": 900.0}, tmp_path, reuse=True)
    assert done["val_loss"] == 1.5 and done["reused_from"].endswith("result-lora.json")


def test_reuse_redoes_a_result_cut_short_when_the_budget_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = {"method": "prompt", "steps": 3, "generate_budget_s": 300.0}
    (tmp_path / "spec-prompt.json").write_text(json.dumps(spec), encoding="utf-8")
    (tmp_path / "result-prompt.json").write_text(json.dumps({"generation_complete": False}), encoding="utf-8")
    calls: list[list[str]] = []

    def fake_run(command: list[str], check: bool) -> None:
        calls.append(command)
        out = Path(command[command.index("--worker-out") + 1])
        out.write_text(json.dumps({"method": "prompt", "generation_complete": True}), encoding="utf-8")

    monkeypatch.setattr(bench.subprocess, "run", fake_run)
    # Same budget: the cut-short result is still this spec's result.
    assert "reused_from" in bench.run_child(spec, tmp_path, reuse=True) and calls == []
    done = bench.run_child({**spec, "generate_budget_s": 900.0}, tmp_path, reuse=True)
    assert len(calls) == 1 and done["generation_complete"] is True and "reused_from" not in done


def test_a_method_not_generated_in_budget_shows_as_not_scored() -> None:
    payload = {
        "methods": {
            "prefix": {
                "val_loss": 2.5,
                "scores": None,
                "predictions": ["a", "b"],
                "peak_rss_mb": 3000.0,
                "step_seconds_median": 20.0,
                "training": {"peak_memory_mb": 2900.0, "trainable_parameters": 1000},
            }
        },
        "vs_none": {},
    }
    row = bench.table_rows(payload)[1]
    assert row[2:5] == ["not scored (2 rows in budget)"] * 3 and row[5] == "-"


def test_method_budgets_parse_and_reject_bad_options() -> None:
    assert bench.parse_budgets(["prompt=900", "ia3=60.5"], bench.METHODS) == {"prompt": 900.0, "ia3": 60.5}
    for bad in ("prompt", "prompt=soon", "prompt=0", "adapter=10"):
        with pytest.raises(SystemExit, match="METHOD=SECONDS"):
            bench.parse_budgets([bad], bench.METHODS)


def test_html_report_has_table_charts_caveats_and_reuse_note(tmp_path: Path) -> None:
    run = {
        "val_loss": 2.0,
        "scores": {m: _cell(0.4) for m in bench.METRICS},
        "peak_rss_mb": 900.0,
        "predictions": ["We <b>show</b> it."],
    }
    payload = {
        "created": "2026-12-06T10:00:00+00:00",
        "machine": {"cpus": 2, "platform": "linux", "load_start": "1.0", "load_end": "2.0"},
        "base": "smollm2-135m",
        "split": {"train": 4, "validation": 2, "test": 1},
        "settings": {"seed": 0, "steps": 2, "batch_size": 2, "epochs": 1, "max_length": 256, "max_tokens": 8},
        "methods": {"none": run, "prompt": {**run, "scores": None}},
        "vs_none": {},
        "first_test_reference": "ref",
        "reused_methods": ["none"],
        "caveats": ["careful <here>"],
    }
    path = tmp_path / "r.html"
    bench.write_html(payload, path)
    page = path.read_text(encoding="utf-8")
    assert page.count("<svg") == 4  # three metrics and validation loss; no speed without steps
    assert "careful &lt;here&gt;" in page and "We &lt;b&gt;show&lt;/b&gt; it." in page
    assert "results of none were reused" in page and "not scored (1 rows in budget)" in page
