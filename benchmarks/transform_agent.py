"""Transform-agent eval (issue 18): plain-language cleaning requests (half Korean, half English:
benchmarks/data/transform_agent/requests.jsonl), each with 2-4 documents and the documents a careful
person would expect after the request, planned by the keyword rules and by catalog GGUF models.

    .venv/bin/python benchmarks/transform_agent.py --generators rules smollm2-135m --limit 12 \\
        --json benchmarks/results/transform_agent.json --html benchmarks/results/transform_agent.html

Per item: the documents are profiled (`profile_documents`), `suggest_for_request` plans the request
(generator None for `rules`; it runs the preview checks itself) and the checked plan is applied with
`apply_steps`. Per generator:

  valid_plan_rate  share of items whose plan, before the preview checks, parsed with >= 1 step (a
                   model: its raw JSON through parse_plan; the rules: the steps kept plus those the
                   checks dropped)
  exact_rate       share of items whose result equals `expected`: the same ids in the same order and
                   the same texts after .strip()
  damaged          expected documents whose content the transform removed without being asked, summed
                   over items (and per item): an expected document is damaged when nothing is left of
                   it (no result document with its id, or, for split parts, with its original's id or a
                   part id), or when a line the request leaves untouched (a non-blank line of the
                   expected text that is also in the input document) is not a substring of what is left.
                   Lines the request rewrites (a redacted number, an ISO date) are judged by exact_rate
                   only, so doing nothing is a miss, not damage. `damaged_literal` is the stricter count
                   that checks every expected line and looks only under the expected id.
  mean_s           mean wall seconds per request of profile + suggest (model load excluded: timed
                   apart as load_s, with one warm-up call)

`--limit N` takes N items round-robin over the kinds (boilerplate, pii, section …), English and Korean
alternately, so a short run still covers every kind and both languages. A catalog generator NAME is
GeneratorConfig(name="llama-cpp", model=NAME, n_threads=--threads) built through llmpilot.factory; a
model that is not installed or fetched is skipped with the reason.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import platform
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from llmpilot import factory
from llmpilot.config import GeneratorConfig
from llmpilot.errors import LlmpilotError
from llmpilot.monitoring.svg_charts import Series, bar_chart, default_format, percent_format
from llmpilot.profiling import profile_documents
from llmpilot.transforms.agent import Suggestion, suggest_for_request
from llmpilot.transforms.ops import apply_steps
from llmpilot.transforms.plan import parse_plan
from llmpilot.types import Document

DATA = Path(__file__).parent / "data" / "transform_agent" / "requests.jsonl"
RULES = "rules"
#: Separator of split-part ids ("faq#2" came from "faq").
PART = "#"


# ---- data ----------------------------------------------------------------------------------------


def load_items(path: Path = DATA) -> list[dict[str, Any]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def documents_of(item: dict[str, Any]) -> list[Document]:
    return [
        Document(id=d["id"], text=d["text"], title=d.get("title", ""), source=d.get("source", ""))
        for d in item["documents"]
    ]


def round_robin(items: Sequence[dict[str, Any]], limit: int | None) -> list[dict[str, Any]]:
    """The first `limit` items taking one of each kind in turn, English and Korean alternately (file
    order within a kind and language), so a short run covers every kind and both languages."""
    if limit is None or limit >= len(items):
        return list(items)
    queues: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        queues[(item["kind"], item["lang"])].append(item)
    kinds = list(dict.fromkeys(item["kind"] for item in items))
    langs = ("en", "ko")
    picked: list[dict[str, Any]] = []
    turn = 0
    while len(picked) < limit:
        for kind in kinds:
            preferred = langs[turn % 2]
            order = (preferred, *(lang for lang in langs if lang != preferred))
            queue = next((queues[(kind, lang)] for lang in order if queues[(kind, lang)]), None)
            if queue is not None and len(picked) < limit:
                picked.append(queue.pop(0))
                turn += 1
    return picked


# ---- metrics -------------------------------------------------------------------------------------


def origin_id(doc_id: str) -> str:
    return doc_id.split(PART, 1)[0]


def is_exact(result: Sequence[Document], expected: Sequence[dict[str, str]]) -> bool:
    got = [(doc.id, doc.text.strip()) for doc in result]
    want = [(e["id"], e["text"].strip()) for e in expected]
    return got == want


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _left_of(expected_id: str, result: Sequence[Document]) -> str | None:
    """What the result holds of an expected document: its own text, else (a split part, or a split the
    result did not make) the texts of every document that came from the same original."""
    by_id = {doc.id: doc.text for doc in result}
    if expected_id in by_id:
        return by_id[expected_id]
    origin = origin_id(expected_id)
    related = [doc.text for doc in result if origin_id(doc.id) == origin]
    return "\n".join(related) if related else None


def damaged_ids(
    result: Sequence[Document], expected: Sequence[dict[str, str]], inputs: Sequence[Document]
) -> list[str]:
    """Expected documents that lost content the request did not ask to touch (see the module doc)."""
    originals = {doc.id: doc.text for doc in inputs}
    damaged: list[str] = []
    for want in expected:
        left = _left_of(want["id"], result)
        original = originals.get(origin_id(want["id"]), "")
        untouched = [line for line in _lines(want["text"]) if line in original]
        if left is None or any(line not in left for line in untouched):
            damaged.append(want["id"])
    return damaged


def damaged_ids_literal(result: Sequence[Document], expected: Sequence[dict[str, str]]) -> list[str]:
    """The strict reading: missing under its id, or any expected line not a substring of its text."""
    by_id = {doc.id: doc.text for doc in result}
    return [
        want["id"]
        for want in expected
        if want["id"] not in by_id or any(line not in by_id[want["id"]] for line in _lines(want["text"]))
    ]


def proposed_steps(suggestion: Suggestion) -> int:
    """Steps in the plan before the preview checks: a model's raw JSON, or the rules' kept + dropped."""
    if suggestion.raw is None:
        dropped = sum(" dropped: " in note for note in suggestion.notes)
        return len(suggestion.plan.steps) + dropped
    try:
        return len(parse_plan(json.loads(suggestion.raw), where="model output").steps)
    except (ValueError, LlmpilotError):
        return 0


# ---- running -------------------------------------------------------------------------------------


def build_generator(name: str, threads: int) -> tuple[object | None, str | None]:
    """(generator, None), or (None, why it is skipped). `rules` is (None, None)."""
    if name == RULES:
        return None, None
    try:
        generator = factory.generator(GeneratorConfig(name="llama-cpp", model=name, n_threads=threads))
        # Warm-up: the first call loads the weights; request timings must not include that.
        generator.generate([{"role": "user", "content": "Hi"}], max_tokens=1, temperature=0.0)
    except LlmpilotError as exc:
        return None, str(exc)
    return generator, None


def evaluate_item(item: dict[str, Any], generator: object | None) -> dict[str, Any]:
    docs = documents_of(item)
    started = time.perf_counter()
    profile = profile_documents(docs)
    suggestion = suggest_for_request(item["request"], profile, docs, generator=generator)
    seconds = time.perf_counter() - started
    result, _ = apply_steps(suggestion.plan.steps, docs)
    damaged = damaged_ids(result, item["expected"], docs)
    return {
        "id": item["id"],
        "lang": item["lang"],
        "kind": item["kind"],
        "valid_plan": proposed_steps(suggestion) >= 1,
        "exact": is_exact(result, item["expected"]),
        "damaged": damaged,
        "damaged_literal": damaged_ids_literal(result, item["expected"]),
        "seconds": round(seconds, 3),
        "method": suggestion.method,
        "steps": [step.op for step in suggestion.plan.steps],
        "plan": suggestion.plan.model_dump(mode="json", exclude_none=True)["steps"],
        "notes": suggestion.notes,
        "raw": suggestion.raw,
    }


def _rate(rows: Sequence[dict[str, Any]], key: str) -> float:
    return round(sum(bool(r[key]) for r in rows) / len(rows), 3) if rows else 0.0


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    damaged = sum(len(r["damaged"]) for r in rows)
    by_kind: dict[str, dict[str, Any]] = {}
    for kind in sorted({r["kind"] for r in rows}):
        of_kind = [r for r in rows if r["kind"] == kind]
        by_kind[kind] = {"items": len(of_kind), "exact_rate": _rate(of_kind, "exact")}
    return {
        "items": len(rows),
        "valid_plan_rate": _rate(rows, "valid_plan"),
        "exact_rate": _rate(rows, "exact"),
        "exact_rate_by_lang": {
            lang: _rate([r for r in rows if r["lang"] == lang], "exact") for lang in ("en", "ko")
        },
        "damaged_documents": damaged,
        "damaged_per_item": round(damaged / len(rows), 3) if rows else 0.0,
        "damaged_items": sum(bool(r["damaged"]) for r in rows),
        "damaged_documents_literal": sum(len(r["damaged_literal"]) for r in rows),
        "mean_s": round(statistics.fmean(r["seconds"] for r in rows), 3) if rows else 0.0,
        "by_kind": by_kind,
    }


def progress(name: str, index: int, total: int, row: dict[str, Any]) -> None:
    print(
        f"[{name}] {index}/{total} {row['id']}: valid={int(row['valid_plan'])} exact={int(row['exact'])} "
        f"damaged={len(row['damaged'])} steps={','.join(row['steps']) or '-'} {row['seconds']:.2f}s",
        file=sys.stderr,
        flush=True,
    )


def run_generator(name: str, items: Sequence[dict[str, Any]], threads: int) -> dict[str, Any]:
    started = time.perf_counter()
    generator, skipped = build_generator(name, threads)
    load_s = round(time.perf_counter() - started, 2)
    if skipped is not None:
        print(f"[{name}] skipped: {skipped}", file=sys.stderr, flush=True)
        return {"generator": name, "status": "skipped", "reason": skipped, "rows": []}
    rows = []
    for index, item in enumerate(items, start=1):
        row = evaluate_item(item, generator)
        progress(name, index, len(items), row)
        rows.append(row)
    model_id = getattr(generator, "model_id", RULES)
    return {
        "generator": name,
        "status": "ok",
        "model_id": model_id,
        "load_s": load_s if generator is not None else 0.0,
        **summarize(rows),
        "rows": rows,
    }


# ---- report --------------------------------------------------------------------------------------

CHARTS = (
    ("valid_plan_rate", "Valid plan (parsed, >= 1 step)", percent_format),
    ("exact_rate", "Exact result", percent_format),
    ("damaged_per_item", "Damaged documents per item (lower is better)", default_format),
    ("mean_s", "Seconds per request", default_format),
)


def charts_html(runs: Sequence[dict[str, Any]]) -> str:
    ran = [run for run in runs if run["status"] == "ok"]
    names = [run["generator"] for run in ran]
    parts = []
    for key, title, fmt in CHARTS:
        series = [Series(name=title, values=[float(run[key]) for run in ran])]
        chart = bar_chart(
            series,
            chart_id=f"chart-{key}",
            title=title,
            x_labels=names,
            y_format=fmt,
            empty_text="0 for every generator",
            width=520,
            height=220,
        )
        parts.append(chart)
    return "\n".join(f"<figure>{svg}</figure>" for svg in parts)


def _cells(values: Iterable[object], tag: str = "td") -> str:
    return "".join(f"<{tag}>{html.escape(str(v))}</{tag}>" for v in values)


SUMMARY_HEAD = (
    "generator",
    "model",
    "items",
    "valid plan",
    "exact",
    "exact en",
    "exact ko",
    "damaged docs",
    "damaged / item",
    "mean s",
    "load s",
)


def _summary_row(run: dict[str, Any]) -> str:
    if run["status"] != "ok":
        skipped = f"skipped: {html.escape(run['reason'])}"
        span = len(SUMMARY_HEAD) - 1
        return f"<tr><td>{html.escape(run['generator'])}</td><td colspan='{span}'>{skipped}</td></tr>"
    by_lang = run["exact_rate_by_lang"]
    values = (
        run["generator"],
        run["model_id"],
        run["items"],
        f"{run['valid_plan_rate']:.0%}",
        f"{run['exact_rate']:.0%}",
        f"{by_lang['en']:.0%}",
        f"{by_lang['ko']:.0%}",
        run["damaged_documents"],
        run["damaged_per_item"],
        run["mean_s"],
        run["load_s"],
    )
    return f"<tr>{_cells(values)}</tr>"


def summary_table(runs: Sequence[dict[str, Any]]) -> str:
    rows = "".join(_summary_row(run) for run in runs)
    return f"<table><tr>{_cells(SUMMARY_HEAD, 'th')}</tr>{rows}</table>"


def _item_cells(generator: str, row: dict[str, Any]) -> str:
    values = (
        generator,
        row["id"],
        row["kind"],
        "yes" if row["valid_plan"] else "no",
        "yes" if row["exact"] else "no",
        ", ".join(row["damaged"]),
        row["seconds"],
        ", ".join(row["steps"]),
        " | ".join(row["notes"]),
    )
    return f"<tr>{_cells(values)}</tr>"


def item_table(runs: Sequence[dict[str, Any]]) -> str:
    head = ("generator", "item", "kind", "valid", "exact", "damaged", "s", "steps", "notes")
    rows = [_item_cells(run["generator"], row) for run in runs for row in run["rows"]]
    return f"<table><tr>{_cells(head, 'th')}</tr>{''.join(rows)}</table>"


def render_html(report: dict[str, Any]) -> str:
    runs = report["generators"]
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Transform agent eval</title>"
        "<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;font-size:13px}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}"
        "figure{display:inline-block;margin:0 1em 1em 0}"
        "</style></head><body><h1>Transform agent eval</h1>"
        f"<p>{report['items']} requests from {html.escape(report['data'])} ({html.escape(report['date'])}, "
        f"{html.escape(report['machine'])}). Exact: same ids, order and stripped texts as the hand-written "
        "expected documents. Damaged: expected documents that lost content the request did not ask to touch."
        f"</p>{charts_html(runs)}<h2>Summary</h2>{summary_table(runs)}<h2>Items</h2>{item_table(runs)}"
        "</body></html>\n"
    )


def display_path(path: Path) -> str:
    """The data file relative to the repository when it is inside it (reports stay machine-neutral)."""
    root = Path(__file__).resolve().parents[1]
    resolved = path.resolve()
    return str(resolved.relative_to(root)) if resolved.is_relative_to(root) else str(path)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--generators", nargs="+", default=[RULES], help="rules and/or catalog model names")
    parser.add_argument("--limit", type=int, default=None, help="items to run, round-robin over kinds")
    parser.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1), help="llama.cpp threads")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--json", type=Path, default=None, help="write the report here")
    parser.add_argument("--html", type=Path, default=None, help="write the HTML report here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    items = round_robin(load_items(args.data), args.limit)
    runs = [run_generator(name, items, args.threads) for name in args.generators]
    report = {
        "benchmark": "transform_agent",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, llama.cpp threads {args.threads}",
        "data": display_path(args.data),
        "items": len(items),
        "limit": args.limit,
        "generators": runs,
    }
    for run in runs:
        if run["status"] == "ok":
            summary = {k: v for k, v in run.items() if k not in ("rows", "by_kind")}
            print(json.dumps(summary, ensure_ascii=False))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    if args.html is not None:
        args.html.parent.mkdir(parents=True, exist_ok=True)
        args.html.write_text(render_html(report), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
