"""Follow-up questions with and without the chat history: does condensing the conversation into a
standalone query (src/llmpilot/conversation.py) find the page that answers the follow-up?

    nice .venv/bin/python benchmarks/multiturn.py --json benchmarks/results/multiturn.json

Ingests the bundled sample corpus (without QUESTIONS.md) into a temporary project with the shipped
default config (`llmpilot init`: hybrid BM25 + multilingual-e5-small, convex fusion), then for every
conversation of benchmarks/data/multiturn.jsonl retrieves with

  last        the last user message only (what /v1/chat/completions used before conversation.py)
  rules       `condense(turns)`: rule-based follow-up detection and merge, no model
  generator   `condense(turns, generator=...)`: the configured generator (SmolLM2-135M-Instruct via
              llama-cpp) rewrites under a strict prompt; the rules' query when the rewrite is rejected
  concat      every turn (user and assistant) concatenated: a naive baseline

and scores hit@1 and hit@5 (the relevant document among the top k documents, a document ranked by its
best chunk) per language and overall, with bootstrap 95% CIs; paired bootstrap tests of every method
against `last` and against `rules`; and the wall time of each method (condensing + retrieval summed
over all conversations, after a warm-up that loads the models; methods take turns per conversation)
as a ratio to `last`. `--mode keyword` runs the same with BM25 only (the setting of
tests/integration/test_multiturn.py); `--no-generator` skips the LLM.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from llmpilot.config import load_config
from llmpilot.conversation import Condensed, condense
from llmpilot.evaluation.bootstrap import bootstrap_ci, paired_bootstrap
from llmpilot.evaluation.multiturn import (
    Conversation,
    doc_rank,
    doc_ranking,
    hit_at,
    last_user_message,
    load_conversations,
    sample_project,
    whole_history,
)
from llmpilot.pipeline import Pipeline
from llmpilot.project import CONFIG_TEMPLATE

ROOT = Path(__file__).resolve().parent
DATA = ROOT / "data" / "multiturn.jsonl"
#: Chunks retrieved per query: enough that the top 5 *documents* are complete (the corpus has ~40).
CHUNKS = 50
KS = (1, 5)


def run_one(
    pipeline: Pipeline, conv: Conversation, make_query: Callable[[Conversation], Any]
) -> tuple[dict[str, Any], float]:
    """One conversation through one method: its row and the seconds spent condensing + retrieving."""
    t0 = time.perf_counter()
    made = make_query(conv)
    query = made.query if isinstance(made, Condensed) else made
    ranking = doc_ranking(pipeline.search(query, CHUNKS))
    seconds = time.perf_counter() - t0
    row: dict[str, Any] = {
        "id": conv.id,
        "lang": conv.lang,
        "query": query,
        "rank": doc_rank(ranking, conv.relevant_doc),
        "top5": ranking[:5],
        **{f"hit@{k}": hit_at(ranking, conv.relevant_doc, k) for k in KS},
    }
    if isinstance(made, Condensed):
        row.update(method=made.method, cues=list(made.cues), followup=made.followup)
        if made.rewrite:
            row.update(rewrite=made.rewrite, rejected=made.rejected)
    return row, seconds


def summarize(rows: list[dict[str, Any]], langs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for lang in [*langs, "all"]:
        sel = [r for r in rows if lang == "all" or r["lang"] == lang]
        out[lang] = {"n": len(sel)}
        for k in KS:
            mean, low, high = bootstrap_ci([r[f"hit@{k}"] for r in sel])
            out[lang][f"hit@{k}"] = {"mean": round(mean, 4), "ci95": [round(low, 4), round(high, 4)]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--mode", choices=["keyword", "dense", "hybrid"], default=None,
                        help="retrieval mode (default: the shipped config's, hybrid)")  # fmt: skip
    parser.add_argument("--no-generator", action="store_true", help="skip the LLM rewrite (c)")
    args = parser.parse_args()

    conversations = load_conversations(args.data)
    langs = sorted({c.lang for c in conversations})
    with tempfile.TemporaryDirectory(prefix="llmpilot-multiturn-") as tmp:
        t0 = time.perf_counter()
        config = None
        if args.mode is not None:
            defaults = Path(tmp) / "defaults.yaml"
            defaults.write_text(CONFIG_TEMPLATE, encoding="utf-8")
            config = load_config(defaults)
            config = config.model_copy(
                update={"retrieval": config.retrieval.model_copy(update={"mode": args.mode})}
            )
        project = sample_project(Path(tmp), config)
        ingest_s = time.perf_counter() - t0
        pipeline = Pipeline(project)
        pipeline.search("warm-up: load the embedder and indexes", CHUNKS)
        methods: dict[str, Callable[[Conversation], Any]] = {
            "last": lambda c: last_user_message(c.turns),
            "rules": lambda c: condense(c.turns),
            "concat": lambda c: whole_history(c.turns),
        }
        generator_id = None
        if not args.no_generator:
            generator = pipeline.generator
            generator_id = generator.model_id
            t1 = time.perf_counter()
            generator.generate([{"role": "user", "content": "Hi"}], max_tokens=1, temperature=0.0)
            load_s = time.perf_counter() - t1
            methods["generator"] = lambda c: condense(c.turns, generator=generator)
        # Kiwi is loaded by the first Korean condensation: do it before any timing.
        condense(conversations[-1].turns)
        # Methods take turns on each conversation, in an order rotated per conversation: load from
        # other jobs on a shared machine slows them alike, and no method always runs right after the
        # LLM (llama.cpp's threads slow whatever runs next for a moment).
        names = list(methods)
        all_rows: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        seconds = dict.fromkeys(names, 0.0)
        for i, conv in enumerate(conversations):
            for name in names[i % len(names) :] + names[: i % len(names)]:
                row, spent = run_one(pipeline, conv, methods[name])
                all_rows[name].append(row)
                seconds[name] += spent
        results: dict[str, Any] = {}
        for name, rows in all_rows.items():
            results[name] = {
                "seconds": round(seconds[name], 3),
                "summary": summarize(rows, langs),
                "rows": rows,
            }
            print(f"{name:10s} {seconds[name]:7.2f} s  " + "  ".join(
                f"{lang} hit@1 {results[name]['summary'][lang]['hit@1']['mean']:.3f} "
                f"hit@5 {results[name]['summary'][lang]['hit@5']['mean']:.3f}"
                for lang in [*langs, "all"]
            ))  # fmt: skip
        base = results["last"]["seconds"]
        for res in results.values():
            res["time_ratio_to_last"] = round(res["seconds"] / base, 2) if base > 0 else None
        pairs = [(m, "last") for m in results if m != "last"]
        pairs += [(m, "rules") for m in results if m not in ("last", "rules")]
        tests: dict[str, Any] = {}
        for system, baseline in pairs:
            for lang in [*langs, "all"]:
                for k in KS:
                    a = [r[f"hit@{k}"] for r in results[system]["rows"] if lang in ("all", r["lang"])]
                    b = [r[f"hit@{k}"] for r in results[baseline]["rows"] if lang in ("all", r["lang"])]
                    stats = paired_bootstrap(a, b)
                    tests[f"{system} vs {baseline}, {lang}, hit@{k}"] = {
                        key: round(v, 4) for key, v in stats.items()
                    }
        if "generator" in results:
            rows = results["generator"]["rows"]
            results["generator"]["rewrites_used"] = sum(r.get("method") == "generator" for r in rows)
            results["generator"]["rewrites_rejected"] = sum(bool(r.get("rejected")) for r in rows)
        rules_rows = results["rules"]["rows"]
        result = {
            "benchmark": "multiturn",
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "data": str(
                args.data.relative_to(ROOT.parent) if args.data.is_relative_to(ROOT.parent) else args.data
            ),
            "conversations": {lang: sum(c.lang == lang for c in conversations) for lang in langs},
            "config": project.config.model_dump(mode="json"),
            "generator": generator_id,
            "generator_load_s": round(load_s, 2) if generator_id else None,
            "ingest_s": round(ingest_s, 2),
            "chunks_retrieved_per_query": CHUNKS,
            "rules_detected_followups": sum(r["followup"] for r in rules_rows),
            "methods": results,
            "paired_bootstrap": tests,
        }
        project.close()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
