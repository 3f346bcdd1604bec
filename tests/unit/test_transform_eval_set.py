"""The transform-agent eval set (benchmarks/data/transform_agent/requests.jsonl) is well formed, and
its hand-written expected documents agree with the ops: every reference plan parses and reproduces
`expected` exactly. A failure here means the gold data or an op is wrong; decide which, never
regenerate `expected` from the ops. Also: benchmarks/transform_agent.py's metrics (exact, damaged)
on known results, and its rules run writing JSON and HTML."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from llmpilot.transforms.ops import apply_steps
from llmpilot.transforms.plan import parse_plan
from llmpilot.types import Document

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "benchmarks" / "data" / "transform_agent" / "requests.jsonl"
MIN_ITEMS = 48
MIN_PER_KIND = {
    "boilerplate": 8,
    "pii": 8,
    "section": 4,
    "filter": 4,
    "dedup": 3,
    "normalize": 4,
    "split": 3,
    "replace": 3,
    "multi": 6,
}
ITEM_KEYS = {"id", "lang", "kind", "request", "documents", "expected", "reference_plan"}
DOCUMENT_KEYS = {"id", "title", "source", "text"}


def _load() -> list[dict[str, Any]]:
    lines = DATA.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


ITEMS = _load()


def _documents(item: dict[str, Any]) -> list[Document]:
    return [
        Document(id=d["id"], text=d["text"], title=d["title"], source=d["source"]) for d in item["documents"]
    ]


def test_every_line_is_one_item_with_the_documented_fields() -> None:
    lines = [line for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(lines) == len(ITEMS) >= MIN_ITEMS
    for item in ITEMS:
        assert set(item) == ITEM_KEYS, item["id"]
        assert item["lang"] in ("en", "ko") and item["id"].startswith(item["lang"] + "-"), item["id"]
        assert item["kind"] in MIN_PER_KIND, item["id"]
        assert item["request"].strip(), item["id"]
        assert 2 <= len(item["documents"]) <= 4, item["id"]
        for doc in item["documents"]:
            assert set(doc) == DOCUMENT_KEYS, (item["id"], doc.get("id"))
        for doc in item["expected"]:
            assert set(doc) == {"id", "text"}, (item["id"], doc.get("id"))


def test_ids_are_unique() -> None:
    ids = [item["id"] for item in ITEMS]
    assert len(ids) == len(set(ids))
    for item in ITEMS:
        doc_ids = [doc["id"] for doc in item["documents"]]
        assert len(doc_ids) == len(set(doc_ids)), item["id"]
        expected_ids = [doc["id"] for doc in item["expected"]]
        assert len(expected_ids) == len(set(expected_ids)), item["id"]


def test_half_the_requests_are_korean_and_korean_requests_have_korean_documents() -> None:
    langs = Counter(item["lang"] for item in ITEMS)
    assert langs["ko"] == langs["en"] == len(ITEMS) // 2
    for item in ITEMS:
        if item["lang"] == "ko":
            assert any("\uac00" <= ch <= "\ud7a3" for ch in item["request"]), item["id"]
            texts = "".join(doc["text"] for doc in item["documents"])
            assert any("\uac00" <= ch <= "\ud7a3" for ch in texts), item["id"]


def test_every_kind_has_its_minimum() -> None:
    kinds = Counter(item["kind"] for item in ITEMS)
    short = {kind: (kinds[kind], need) for kind, need in MIN_PER_KIND.items() if kinds[kind] < need}
    assert not short, f"kinds below their minimum (have, need): {short}"


def test_multi_items_combine_several_steps() -> None:
    for item in ITEMS:
        if item["kind"] == "multi":
            ops = {step["op"] for step in item["reference_plan"]["steps"]}
            assert len(ops) >= 2, item["id"]


@pytest.mark.parametrize("item", ITEMS, ids=[item["id"] for item in ITEMS])
def test_reference_plan_reproduces_expected(item: dict[str, Any]) -> None:
    plan = parse_plan(item["reference_plan"], where=item["id"])
    assert plan.steps, item["id"]
    result, _ = apply_steps(plan, _documents(item))
    assert [(doc.id, doc.text) for doc in result] == [(doc["id"], doc["text"]) for doc in item["expected"]]


# ---- the benchmark's metrics -------------------------------------------------------------------------


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bench_transform_agent", ROOT / "benchmarks" / "transform_agent.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_transform_agent"] = module
    spec.loader.exec_module(module)
    return module


bench = _bench()


def _item(item_id: str) -> dict[str, Any]:
    return next(item for item in ITEMS if item["id"] == item_id)


def _run(item: dict[str, Any], steps: list[dict[str, Any]]) -> list[Document]:
    plan = parse_plan({"version": 1, "steps": steps})
    return apply_steps(plan, _documents(item))[0]


def test_the_reference_result_is_exact_and_undamaged_for_every_item() -> None:
    for item in ITEMS:
        result = _run(item, item["reference_plan"]["steps"])
        assert bench.is_exact(result, item["expected"]), item["id"]
        assert bench.damaged_ids(result, item["expected"], _documents(item)) == [], item["id"]


def test_doing_nothing_is_a_miss_but_not_damage() -> None:
    item = _item("en-pii-01")
    docs = _documents(item)
    assert not bench.is_exact(docs, item["expected"])
    assert bench.damaged_ids(docs, item["expected"], docs) == []
    # The strict count calls every unredacted document damaged; t-1003 has no phone number.
    assert bench.damaged_ids_literal(docs, item["expected"]) == ["t-1001", "t-1002"]


def test_a_pattern_that_hits_content_damages_the_document() -> None:
    item = _item("ko-boilerplate-04")  # help-noise says "목록으로 정리된" in a content line
    result = _run(item, [{"op": "drop_lines", "pattern": "목록으로"}])
    assert bench.damaged_ids(result, item["expected"], _documents(item)) == ["help-noise"]


def test_dropping_a_wanted_document_damages_it_and_keeping_an_unwanted_one_does_not() -> None:
    item = _item("en-filter-01")
    korean_only = _run(item, [{"op": "filter_language", "keep": ["ko"]}])
    assert bench.damaged_ids(korean_only, item["expected"], _documents(item)) == ["en-returns", "en-warranty"]
    unfiltered = _documents(item)
    assert not bench.is_exact(unfiltered, item["expected"])
    assert bench.damaged_ids(unfiltered, item["expected"], unfiltered) == []


def test_an_unsplit_document_keeps_its_parts_content() -> None:
    item = _item("en-split-01")
    docs = _documents(item)
    assert bench.damaged_ids(docs, item["expected"], docs) == []
    assert bench.damaged_ids_literal(docs, item["expected"])[:1] == ["faq-shipping#1"]


def test_limit_takes_items_round_robin_over_kinds() -> None:
    picked = bench.round_robin(ITEMS, len(MIN_PER_KIND))
    assert {item["kind"] for item in picked} == set(MIN_PER_KIND)
    assert bench.round_robin(ITEMS, None) == ITEMS


def test_rules_run_writes_json_and_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_json, out_html = tmp_path / "r.json", tmp_path / "r.html"
    argv = ["--generators", "rules", "--limit", "9", "--json", str(out_json), "--html", str(out_html)]
    assert bench.main(argv) == 0
    report = json.loads(out_json.read_text(encoding="utf-8"))
    (run,) = report["generators"]
    assert run["status"] == "ok" and run["items"] == len(run["rows"]) == 9
    assert 0.0 <= run["exact_rate"] <= run["valid_plan_rate"] <= 1.0
    assert run["damaged_documents"] == sum(len(row["damaged"]) for row in run["rows"])
    page = out_html.read_text(encoding="utf-8")
    assert page.count("<svg") == len(bench.CHARTS) and "en-boilerplate-01" in page
    assert "[rules] 9/9" in capsys.readouterr().err
