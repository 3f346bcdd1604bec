"""Load on `llmpilot serve`: POST /api/ask over loopback HTTP, N requests at C concurrent, on the
retrieval-only path (`"generate": false`) and with generation; latency p50/p95/p99, errors, and the
server's overhead as a ratio to the same answer policy called in process (same questions, same
concurrency, same run).

    nice .venv/bin/python benchmarks/serve_load.py --project demo-project \\
        --json benchmarks/results/serve_load.json

The server is uvicorn on 127.0.0.1 (a thread of this process, one worker, rate limit off) serving the
project with a bench-only generator override (--max-tokens, --n-threads): the same pipeline objects as
`llmpilot serve`. overhead_ratio = wall time of the HTTP run / wall time of the in-process run; the
in-process run is measured before and after the HTTP run and averaged (this machine's speed drifts).
"""

from __future__ import annotations

import argparse
import json
import platform
import socket
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import uvicorn
from demo_questions import DEMO_QUESTIONS

from llmpilot.pipeline import Pipeline
from llmpilot.project import Project
from llmpilot.serving.app import create_app
from llmpilot.serving.state import Collection, ServeSettings
from llmpilot.store.serving import ServingStore

#: The demo corpus questions: all answerable, so none
#: abstains and every generation-path request really generates.
QUESTIONS = DEMO_QUESTIONS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentiles(latencies_ms: list[float]) -> dict[str, float]:
    if not latencies_ms:
        return {
            "p50_ms": float("nan"),
            "p95_ms": float("nan"),
            "p99_ms": float("nan"),
            "mean_ms": float("nan"),
        }
    arr = np.array(latencies_ms)
    return {
        "p50_ms": round(float(np.percentile(arr, 50)), 2),
        "p95_ms": round(float(np.percentile(arr, 95)), 2),
        "p99_ms": round(float(np.percentile(arr, 99)), 2),
        "mean_ms": round(float(arr.mean()), 2),
    }


def run_load(call: Callable[[str], bool], n: int, concurrency: int) -> dict[str, Any]:
    """n calls (questions in turn) on `concurrency` threads; latency per call, errors, wall time."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()

    def one(i: int) -> None:
        nonlocal errors
        t = time.perf_counter()
        try:
            ok = call(QUESTIONS[i % len(QUESTIONS)])
        except Exception:
            ok = False
        ms = (time.perf_counter() - t) * 1000.0
        with lock:
            latencies.append(ms)
            errors += 0 if ok else 1

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(n)))
    wall = time.perf_counter() - t0
    return {**percentiles(latencies), "errors": errors, "requests": n, "wall_s": round(wall, 3)}


class LoopbackServer:
    def __init__(self, app: Any) -> None:
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start within 60 s")
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def measure_path(
    name: str, collection: Collection, base_url: str, key: str, n: int, concurrency: int, generate: bool
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    client = httpx.Client(
        base_url=base_url, headers=headers, timeout=600, limits=httpx.Limits(max_connections=64)
    )
    abstained = 0

    def over_http(question: str) -> bool:
        nonlocal abstained
        response = client.post("/api/ask", json={"question": question, "generate": generate})
        if response.status_code != 200:
            return False
        abstained += int(response.json()["abstained"])
        return True

    def in_process(question: str) -> bool:
        collection.responder.ask(question, generate=generate)
        return True

    # Warm both paths (first-use costs: connections, tokenizer caches, the model's first call).
    for q in QUESTIONS[:2]:
        over_http(q)
        in_process(q)
    abstained = 0
    print(f"[{name}] in-process reference (1/2)…", flush=True)
    before = run_load(in_process, n, concurrency)
    print(f"[{name}] HTTP {n} requests, {concurrency} concurrent…", flush=True)
    http = run_load(over_http, n, concurrency)
    print(f"[{name}] in-process reference (2/2)…", flush=True)
    after = run_load(in_process, n, concurrency)
    client.close()
    reference_wall = statistics.mean([before["wall_s"], after["wall_s"]])
    reference_mean = statistics.mean([before["mean_ms"], after["mean_ms"]])
    return {
        "p50_ms": http["p50_ms"],
        "p95_ms": http["p95_ms"],
        "p99_ms": http["p99_ms"],
        "errors": http["errors"],
        "overhead_ratio": round(http["wall_s"] / reference_wall, 4),
        "mean_latency_ratio": round(http["mean_ms"] / reference_mean, 4),
        "requests": n,
        "concurrency": concurrency,
        "abstained": abstained,
        "http": http,
        "in_process_before": before,
        "in_process_after": after,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--project", type=Path, default=Path("demo-project"))
    parser.add_argument("--json", type=Path, required=True, help="Write the result JSON here.")
    parser.add_argument("--requests", type=int, default=200, help="Requests on the retrieval-only path.")
    parser.add_argument("--gen-requests", type=int, default=200, help="Requests on the generation path.")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=32, help="generator.max_tokens for this run.")
    parser.add_argument("--n-threads", type=int, default=1, help="generator.n_threads for this run.")
    args = parser.parse_args()

    opened = Project.open(args.project)
    generator = opened.config.generator.model_copy(
        update={"max_tokens": args.max_tokens, "n_threads": args.n_threads}
    )
    cfg = opened.config.model_copy(update={"generator": generator})
    project = Project(root=opened.root, config=cfg, config_path=opened.config_path)
    collection = Collection(project.root.name, "bench", Pipeline(project))
    collection.warm()
    store = ServingStore(project.store)
    record, key = store.create_key("bench", "user", "serve_load benchmark")
    app = create_app([collection], store, ServeSettings(rate_limit_per_min=0), ui=False)
    result: dict[str, Any] = {
        "benchmark": "serve_load",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "project": str(args.project),
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "endpoint": "POST /api/ask (non-streaming), loopback HTTP/1.1, uvicorn 1 worker",
        "generator": {
            "max_tokens": args.max_tokens,
            "n_threads": args.n_threads,
            "model": "SmolLM2-135M-Instruct",
        },
        "questions": len(QUESTIONS),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)

    def write() -> None:  # after each path, so a long generation run keeps what is done
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")

    try:
        with LoopbackServer(app) as base_url:
            result["retrieval"] = measure_path(
                "retrieval", collection, base_url, key, args.requests, args.concurrency, generate=False
            )
            write()
            result["generation"] = measure_path(
                "generation", collection, base_url, key, args.gen_requests, args.concurrency, generate=True
            )
            write()
    finally:
        store.revoke_key(record.id)
    for path in ("retrieval", "generation"):
        r = result[path]
        print(
            f"{path}: p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms, p99 {r['p99_ms']} ms, "
            f"errors {r['errors']}, "
            f"overhead {r['overhead_ratio']}x ({r['requests']} requests, {r['concurrency']} concurrent)"
        )


if __name__ == "__main__":
    main()
