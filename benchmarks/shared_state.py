"""What keeping sessions and rate limits in the store costs per request (issue 17).

    nice .venv/bin/python benchmarks/shared_state.py --pg-url postgresql+psycopg://postgres@HOST:PORT/DB \
        --json benchmarks/results/shared_state.json

Per store (a SQLite file; PostgreSQL when --pg-url names an empty database), one real `uvicorn` server
(one worker, a subprocess) per variant, driven over loopback by CLIENTS threads with keep-alive
connections:

- off: no rate limit (the limiter is not called) — the floor;
- memory: the limiter and sessions as they were before, in the process's memory (copied below);
- store: what llmpilot serves now, the `rate_windows` upsert and the `sessions` table.

Before that, the calls themselves in process (microseconds per call; less noisy than HTTP on a busy
machine): the rate-limit check and the session lookup, in memory and in the store, next to the API key
lookup that every request already made.

Two endpoints, both answer-less: GET /v1/models with a Bearer key (key lookup + rate limit) and
GET /api/session with the session cookie (session lookup + key lookup; no rate limit). The variants
run in ROUNDS interleaved rounds (machine load drifts); the median requests/s per variant is reported
with its ratio to `memory`.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import httpx

VARIANTS = ("off", "memory", "store")
ENDPOINTS = ("/v1/models", "/api/session")


class MemoryRateLimiter:
    """The in-process sliding-window limiter llmpilot had before issue 17 (for comparison only)."""

    def __init__(self, per_minute: int, window_s: float = 60.0) -> None:
        self.per_minute = per_minute
        self.window_s = window_s
        self._hits: dict[int, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, key_id: int) -> float | None:
        if self.per_minute <= 0:
            return None
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(key_id, deque())
            while hits and hits[0] <= now - self.window_s:
                hits.popleft()
            if len(hits) >= self.per_minute:
                return max(0.0, hits[0] + self.window_s - now)
            hits.append(now)
            return None


class MemorySessions:
    """The in-process session table llmpilot had before issue 17 (for comparison only)."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._sessions: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def create(self, key_id: int) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[token] = (key_id, time.monotonic() + self.ttl_s)
        return token

    def key_id(self, token: str) -> int | None:
        with self._lock:
            found = self._sessions.get(token)
        return found[0] if found and found[1] > time.monotonic() else None

    def drop(self, token: str) -> None:
        with self._lock:
            self._sessions.pop(token, None)


def serve(variant: str, store_url: str, root: Path, port: int) -> None:
    """The server subprocess: an app over a (not ingested) project; /v1/models needs no index."""
    import uvicorn

    from llmpilot.config import parse_config
    from llmpilot.pipeline import Pipeline
    from llmpilot.project import Project
    from llmpilot.serving.app import create_app
    from llmpilot.serving.state import Collection, ServeSettings
    from llmpilot.store.serving import ServingStore

    project = Project.from_config(root, parse_config({"store": store_url, "retrieval": {"mode": "keyword"}}))
    limit = 0 if variant == "off" else 10**9  # never reached: the cost of counting, not of refusing
    app = create_app(
        [Collection("bench", "default", Pipeline(project))],
        ServingStore(project.store),
        ServeSettings(rate_limit_per_min=limit),
        ui=False,
    )
    state: Any = app.state.llmpilot
    if variant == "memory":
        state.limiter = MemoryRateLimiter(limit)
        state.sessions = MemorySessions(state.settings.session_ttl_s)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def drive(base_url: str, key: str, endpoint: str, n: int, clients: int) -> float:
    """Requests per second for n requests spread over `clients` keep-alive connections."""
    per_client = n // clients
    errors: list[str] = []

    def run() -> None:
        with httpx.Client(base_url=base_url, timeout=30.0) as c:
            if endpoint == "/api/session":
                signed = c.post("/api/session", json={"key": key})
                signed.raise_for_status()
                headers: dict[str, str] = {}
            else:
                headers = {"Authorization": f"Bearer {key}"}
            for _ in range(per_client):
                r = c.get(endpoint, headers=headers)
                if r.status_code != 200:
                    errors.append(f"{r.status_code} {r.text[:200]}")
                    return

    threads = [threading.Thread(target=run) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    if errors:
        raise SystemExit(f"{endpoint}: {errors[0]}")
    return per_client * clients / seconds


def start(variant: str, store_url: str, root: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [sys.executable, __file__, "--serve", variant, "--store", store_url, "--root", str(root)]
    proc = subprocess.Popen([*cmd, "--port", str(port)])
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/api/health", timeout=2).status_code == 200:
                return proc, base_url
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"the {variant} server did not start")


def bench_store(store_url: str, root: Path, n: int, clients: int, rounds: int) -> dict[str, Any]:
    from llmpilot.config import parse_config
    from llmpilot.project import Project
    from llmpilot.store.serving import ServingStore

    project = Project.from_config(root, parse_config({"store": store_url, "retrieval": {"mode": "keyword"}}))
    key = ServingStore(project.store).create_key("default", "user")[1]
    project.close()
    runs: dict[str, dict[str, list[float]]] = {v: {e: [] for e in ENDPOINTS} for v in VARIANTS}
    for _ in range(rounds):
        for variant in VARIANTS:
            proc, base_url = start(variant, store_url, root)
            try:
                drive(base_url, key, "/v1/models", 50, clients)  # warm up
                for endpoint in ENDPOINTS:
                    runs[variant][endpoint].append(drive(base_url, key, endpoint, n, clients))
            finally:
                proc.terminate()
                proc.wait(30)
    result: dict[str, Any] = {}
    for endpoint in ENDPOINTS:
        medians = {v: statistics.median(runs[v][endpoint]) for v in VARIANTS}
        result[endpoint] = {
            v: {
                "rps": round(medians[v], 1),
                "ms_per_request": round(1000 * clients / medians[v], 2),
                "vs_memory": round(medians[v] / medians["memory"], 3),
                "runs": [round(x, 1) for x in runs[v][endpoint]],
            }
            for v in VARIANTS
        }
    return result


def per_call(store_url: str, root: Path, n: int) -> dict[str, float]:
    """Microseconds per call, in process, of what a request does for sessions and rate limits (and,
    for scale, the key lookup every request already did before)."""
    from llmpilot.config import parse_config
    from llmpilot.project import Project
    from llmpilot.store.serving import ServingStore
    from llmpilot.store.shared_state import RateLimitStore, SessionStore

    project = Project.from_config(root, parse_config({"store": store_url, "retrieval": {"mode": "keyword"}}))
    serving = ServingStore(project.store)
    record, key = serving.create_key("default", "user")
    store_sessions, memory_sessions = SessionStore(project.store, 3600.0), MemorySessions(3600.0)
    store_token, memory_token = store_sessions.create(record.id), memory_sessions.create(record.id)
    calls = {
        "key_lookup (before and now)": lambda: serving.key_for_secret(key),
        "rate_limit memory": lambda: MemoryRateLimiter(10**9).check(record.id),
        "rate_limit store": lambda: RateLimitStore(project.store, 10**9).check(record.id),
        "session memory": lambda: memory_sessions.key_id(memory_token),
        "session store": lambda: store_sessions.key_id(store_token),
    }
    out: dict[str, float] = {}
    for name, call in calls.items():
        call()
        started = time.perf_counter()
        for _ in range(n):
            call()
        out[name] = round(1e6 * (time.perf_counter() - started) / n, 1)
    project.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg-url", help="an empty PostgreSQL database to measure too")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--serve", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.store, args.root, args.port)
        return
    results: dict[str, Any] = {
        "requests": args.requests,
        "clients": args.clients,
        "rounds": args.rounds,
        "cpus": os.cpu_count(),
        "load_avg_at_start": os.getloadavg()[0],
    }
    with tempfile.TemporaryDirectory(prefix="llmpilot-bench-state-") as folder:
        stores = {"sqlite": f"sqlite:///{Path(folder) / 'bench.db'}"}
        if args.pg_url:
            stores["postgresql"] = args.pg_url
        for name, url in stores.items():
            calls = per_call(url, Path(folder) / f"{name}-calls", args.requests)
            print(f"{name:10s} us/call: {calls}", flush=True)
            results[name] = bench_store(url, Path(folder) / name, args.requests, args.clients, args.rounds)
            results[name]["us_per_call"] = calls
            for endpoint, by_variant in results[name].items():
                if endpoint == "us_per_call":
                    continue
                line = ", ".join(
                    f"{v} {r['rps']:.0f}/s ({r['vs_memory']:.2f}x)" for v, r in by_variant.items()
                )
                print(f"{name:10s} {endpoint:13s} {line}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
