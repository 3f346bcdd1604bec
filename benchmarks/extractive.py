"""The extractive answerer against the issue's floor, on autorag-ko's reference answers (ROUGE-L).

    .venv/bin/python benchmarks/extractive.py --json benchmarks/results/extractive.json

Runs, each with `max_sentences` 1, 2 and 3 where it applies:

(a) floor (issue 12): the sentences of the gold document sharing the most words with the question
    (words = the evaluation tokenizer's tokens, Kiwi morphemes for Korean, the ones ROUGE-L
    counts), in document order;
(b) ExtractiveAnswerer on the gold document alone;
(c) ExtractiveAnswerer on the top-3 chunks retrieved by the shipped hybrid config
    (examples/hybrid-ko.yaml; the corpus is ingested once into --workdir, embeddings cached).

Every ROUGE-L mean comes with a bootstrap 95% CI over queries and a paired bootstrap against the
floor at the same number of sentences; an empty answer (the answerer abstains) scores 0. Latency is
the answer step alone (sentence splitting + selection; retrieval not counted), after a warm-up,
and is reported as a ratio of the floor's p50 on the same machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from llmpilot.chunking.sentence import sentence_spans
from llmpilot.config import load_config
from llmpilot.evaluation.answer_metrics import tokenize
from llmpilot.evaluation.bootstrap import bootstrap_ci, paired_bootstrap
from llmpilot.evaluation.datasets import Query, RetrievalDataset, load_dataset
from llmpilot.evaluation.scoring import score_answers
from llmpilot.generation.extractive import ExtractiveAnswerer
from llmpilot.index.tokenizers import is_korean
from llmpilot.ingest import Ingestor
from llmpilot.optimization.evaluate import dataset_unit
from llmpilot.pipeline import Pipeline
from llmpilot.project import Project
from llmpilot.types import Hit

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
SENTENCES = (1, 2, 3)
TOP_K = 3


def floor_answer(question: str, document: str, n: int) -> str:
    """The issue's floor: the n sentences of the document sharing most words with the question."""
    text = " ".join(document.split())
    sentences = [text[a:b].strip() for a, b in sentence_spans(text, is_korean(text))]
    sentences = [s for s in sentences if s]
    wanted = set(tokenize(question))
    overlap = [len(wanted & set(tokenize(s))) for s in sentences]
    best = sorted(range(len(sentences)), key=lambda i: (-overlap[i], i))[:n]
    return " ".join(sentences[i] for i in sorted(best))


def timed(fn: Callable[[Query, int], str], query: Query, n: int) -> tuple[str, float]:
    t0 = time.perf_counter()
    out = fn(query, n)
    return out, (time.perf_counter() - t0) * 1000


def retrieve_top(dataset: RetrievalDataset, folder: Path, config: Path, workdir: Path) -> list[list[Hit]]:
    cfg = load_config(config).model_copy(update={"store": "sqlite:///bench.db"})
    project = Project.from_config(workdir / dataset.name, cfg)
    try:
        Ingestor(project, progress=True).run([dataset_unit(dataset, folder)])
        retriever = Pipeline(project, progress=True).retriever
        return [retriever.retrieve(q.text, max(TOP_K, cfg.retrieval.top_k))[:TOP_K] for q in dataset.queries]
    finally:
        project.close()


def summarize(
    name: str, answers: Sequence[str], latencies: Sequence[float], refs: Sequence[Sequence[str]]
) -> dict[str, Any]:
    scores = [row["rougeL"] for row in score_answers(answers, refs, ["rougeL"])]
    mean, low, high = bootstrap_ci(scores)
    return {
        "run": name,
        "rougeL": round(mean, 4),
        "rougeL_ci95": [round(low, 4), round(high, 4)],
        "empty_answers": sum(1 for a in answers if not a.strip()),
        "answer_chars_mean": round(statistics.mean(len(a) for a in answers), 1),
        "latency_ms_p50": round(statistics.median(latencies), 3),
        "per_query_rougeL": [round(s, 4) for s in scores],
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "extractive.json")
    parser.add_argument("--dataset", type=Path, default=SHARED / "autorag-ko")
    parser.add_argument("--config", type=Path, default=ROOT / "examples" / "hybrid-ko.yaml")
    parser.add_argument("--workdir", type=Path, default=ROOT / ".llmpilot-bench" / "extractive")
    parser.add_argument("--max-queries", type=int, default=None)
    parser.add_argument("--no-retrieval", action="store_true", help="skip run (c): no indexing")
    args = parser.parse_args()

    dataset = load_dataset(args.dataset, max_queries=args.max_queries)
    queries = [q for q in dataset.queries if q.answers and dataset.qrels.get(q.id)]
    texts = {doc.id: doc.text for doc in dataset.corpus}
    gold = {q.id: max(dataset.qrels[q.id], key=lambda d: dataset.qrels[q.id][d]) for q in queries}
    refs = [q.answers for q in queries]
    answerer = ExtractiveAnswerer()
    by_id: dict[str, list[Hit]] = {}
    if not args.no_retrieval:
        retrieved = retrieve_top(dataset, args.dataset, args.config, args.workdir)
        by_id = {q.id: hits for q, hits in zip(dataset.queries, retrieved, strict=True)}
    gold_in_top = sum(1 for q in queries if gold[q.id] in {h.chunk.doc_id for h in by_id.get(q.id, [])})

    # Warm-up: Kiwi's model and the stemmer load once, outside the timings.
    floor_answer(queries[0].text, texts[gold[queries[0].id]], 1)
    answerer.answer_texts(queries[0].text, [texts[gold[queries[0].id]]])

    runs: list[dict[str, Any]] = []
    floors: dict[int, dict[str, Any]] = {}
    for n in SENTENCES:
        variants: dict[str, Callable[[Query, int], str]] = {
            "floor (gold document)": lambda q, k: floor_answer(q.text, texts[gold[q.id]], k),
            "extractive (gold document)": lambda q, k: answerer.answer_texts(
                q.text, [texts[gold[q.id]]], max_sentences=k
            ),
            f"extractive (top-{TOP_K} hybrid)": lambda q, k: answerer.answer_sources(
                q.text, by_id[q.id], max_sentences=k
            ),
        }
        if args.no_retrieval:
            variants.pop(f"extractive (top-{TOP_K} hybrid)")
        for label, fn in variants.items():
            answers, latencies = zip(*(timed(fn, q, n) for q in queries), strict=True)
            run = summarize(label, answers, latencies, refs) | {"max_sentences": n}
            if label.startswith("floor"):
                floors[n] = run
            base = floors[n]
            run["latency_ratio_to_floor"] = round(run["latency_ms_p50"] / base["latency_ms_p50"], 3)
            if run is not base:
                diff = paired_bootstrap(run["per_query_rougeL"], base["per_query_rougeL"])
                run["vs_floor"] = {k: round(v, 4) for k, v in diff.items()}
            runs.append(run)
            print(
                f"{label:28} n={n} ROUGE-L {run['rougeL']:.4f} [{run['rougeL_ci95'][0]:.4f}, "
                f"{run['rougeL_ci95'][1]:.4f}] empty {run['empty_answers']:3d} "
                f"p50 {run['latency_ms_p50']:.2f} ms (x{run['latency_ratio_to_floor']:.2f} floor)",
                flush=True,
            )

    payload = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": sys.version.split()[0], "platform": platform.platform()},
        "dataset": dataset.name,
        "queries": len(queries),
        "config_file": str(
            args.config.relative_to(ROOT) if args.config.is_relative_to(ROOT) else args.config
        ),
        "retrieval": None if args.no_retrieval else {"top_k": TOP_K, "gold_in_top_k": gold_in_top},
        "metric": "rougeL (Kiwi morphemes for Korean), mean over queries, bootstrap 95% CI",
        "runs": runs,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"\ngold document in the top-{TOP_K}: {gold_in_top}/{len(queries)}")
    print("\n| answers from | max sentences | ROUGE-L (95% CI) | vs floor | empty | p50 latency / floor |")
    print("|---|---|---|---|---|---|")
    for run in runs:
        vs = run.get("vs_floor")
        delta = f"{vs['mean_diff']:+.3f} (p={vs['p_value']:.3f})" if vs else "—"
        print(
            f"| {run['run']} | {run['max_sentences']} | {run['rougeL']:.3f} "
            f"({run['rougeL_ci95'][0]:.3f}–{run['rougeL_ci95'][1]:.3f}) | {delta} | "
            f"{run['empty_answers']} | {run['latency_ratio_to_floor']:.2f}× |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
