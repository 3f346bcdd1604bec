"""BM25 tokenizers on Korean: nDCG@10, recall@10, MRR@10 on autorag-ko, whole documents.

    .venv/bin/python benchmarks/ko_tokenizers.py [--data /work/shared/data/autorag-ko]
        [--json benchmarks/results/ko_tokenizers.json]

Each tokenizer is used by a fresh BM25Index (bm25s, Lucene BM25, k1=1.5, b=0.75). Binary relevance,
BEIR conventions (llmpilot.evaluation.retrieval_metrics). Kiwi is constructed once before timing, as in the
product, so tokenize_s measures tokenization alone. Compare with REFERENCE-NUMBERS.md (bigrams
0.923, morphemes 0.933, both 0.934).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

from llmpilot.config import KeywordIndexConfig
from llmpilot.evaluation.datasets import load_dataset
from llmpilot.evaluation.retrieval_metrics import evaluate_retrieval
from llmpilot.index.keyword import BM25Index
from llmpilot.index.tokenizers import create_tokenizer, get_kiwi

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "autorag-ko"
TOKENIZERS = ["ko-morph", "ko-bigram", "ko", "auto", "whitespace"]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "ko_tokenizers.json")
    parser.add_argument("--tokenizers", nargs="+", default=TOKENIZERS)
    args = parser.parse_args()

    data = load_dataset(args.data)
    ids = [d.id for d in data.corpus]
    texts = [f"{d.title}\n{d.text}" if d.title else d.text for d in data.corpus]
    queries = [q.text for q in data.queries]

    t0 = time.perf_counter()
    get_kiwi()
    kiwi_init_s = time.perf_counter() - t0

    runs = []
    for name in args.tokenizers:
        tokenize = create_tokenizer(name)
        t0 = time.perf_counter()
        corpus_tokens = tokenize(texts)
        tokenize(queries)
        tokenize_s = time.perf_counter() - t0

        index = BM25Index(KeywordIndexConfig(tokenizer=name))
        t0 = time.perf_counter()
        index.build(ids, texts)
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        results = index.search(queries, k=100)
        search_s = time.perf_counter() - t0

        run = {q.id: [h.id for h in hits] for q, hits in zip(data.queries, results, strict=True)}
        scores = evaluate_retrieval(run, data.qrels, ks=(10, 100), metrics=("ndcg", "recall", "mrr"))
        metrics = {k: scores.mean[k] for k in ("ndcg@10", "recall@10", "recall@100", "mrr@10")}
        runs.append(
            {
                "tokenizer": name,
                **{k: round(v, 4) for k, v in metrics.items()},
                "tokenize_s": round(tokenize_s, 2),
                "build_s": round(build_s, 2),
                "search_s": round(search_s, 3),
                "vocab_tokens": len({t for toks in corpus_tokens for t in toks}),
            }
        )

    result = {
        "benchmark": "ko_tokenizers",
        "dataset": data.name,
        "documents": len(ids),
        "queries": len(queries),
        "bm25": {"method": "lucene", "k1": 1.5, "b": 0.75, "unit": "whole documents"},
        "kiwi_init_s": round(kiwi_init_s, 2),
        "machine": {"python": platform.python_version(), "processor": platform.machine()},
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "runs": runs,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")

    print(f"{data.name}: {len(ids)} documents, {len(queries)} queries (Kiwi init {kiwi_init_s:.1f} s)")
    print("| tokenizer | nDCG@10 | recall@10 | MRR@10 | recall@100 | tokenize s | build s | search s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in runs:
        print(
            f"| {r['tokenizer']} | {r['ndcg@10']:.3f} | {r['recall@10']:.3f} | {r['mrr@10']:.3f} "
            f"| {r['recall@100']:.3f} | {r['tokenize_s']:.1f} | {r['build_s']:.1f} | {r['search_s']:.2f} |"
        )
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
