"""`llmpilot serve --workers 2` for real: two uvicorn worker processes over one PostgreSQL store.

The project is model-free (keyword retrieval, the `extractive` answerer), so the test is about the
workers and the store: both workers answer, 200 concurrent answers and their feedback all reach the
store (no lost row, no 5xx), the config version is registered once, and a key's rate limit is one
budget for both workers.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from llmpilot.config import parse_config
from llmpilot.ingest import Ingestor
from llmpilot.project import CONFIG_NAME, Project
from llmpilot.serving.server import WORKER_HEADER
from llmpilot.sources.files import discover_files
from llmpilot.store import schema
from llmpilot.store.serving import ServingStore
from tests.conftest import _stop, create_database, free_port
from tests.fixtures.serving import copy_samples

START_TIMEOUT_S = 60.0
N_ANSWERS = 200
CONCURRENCY = 16
#: The server's per-key limit; the load is spread over enough keys to stay under it.
RATE_LIMIT = 10
N_LOAD_KEYS = 50
QUESTIONS = (
    "When is phone support open on Saturday?",
    "How many years does the SolBox 10 battery warranty last?",
    "반품 운송비는 얼마인가요?",
    "Who painted the Mona Lisa?",  # abstains: its trace is stored all the same
)


@dataclass(frozen=True)
class Server:
    base_url: str
    store_url: str
    load_keys: list[str]
    limited_key: str
    proc: subprocess.Popen[bytes]
    log: Path


def build_project(root: Path, store_url: str) -> Path:
    cfg = parse_config(
        {
            "store": store_url,
            "retrieval": {"mode": "keyword", "top_k": 3},
            "generator": {"name": "extractive"},
            # Fast to warm on a shared machine (each worker warms its own pipeline): no Korean
            # morphological analyzer, no answer cache, no attack-similarity embedder.
            "index": {"keyword": {"tokenizer": "whitespace"}},
            "cache": {"enabled": False},
            "guardrails": {"input": {"injection": "off"}},
        }
    )
    folder = root / "manuals"
    folder.mkdir()
    (folder / CONFIG_NAME).write_text(cfg.to_yaml(), encoding="utf-8")
    project = Project.open(folder)
    found = discover_files([copy_samples(root / "docs")])
    Ingestor(project).run(found.units, origins=found.origins, errors=found.errors, skipped=found.skipped)
    project.close()
    return folder


def worker_of(response: httpx.Response) -> str:
    return response.headers[WORKER_HEADER]


@pytest.fixture(scope="module")
def server(pg_server: str) -> Iterator[Server]:
    pg_url = create_database(pg_server)
    tmp_path = Path(tempfile.mkdtemp(prefix="llmpilot-workers-"))
    folder = build_project(tmp_path, pg_url)
    project = Project.open(folder)
    store = ServingStore(project.store)
    load_keys = [store.create_key("default", "user")[1] for _ in range(N_LOAD_KEYS)]
    limited_key = store.create_key("default", "user")[1]
    project.close()

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    command = [sys.executable, "-m", "llmpilot", "serve", "-p", str(folder), "--port", str(port)]
    command += ["--workers", "2", "--rate-limit", f"{RATE_LIMIT}/min"]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    running = Server(base_url, pg_url, load_keys, limited_key, proc, log)
    try:
        # Up once both workers have answered: a new connection goes to whichever worker accepts it.
        seen: set[str] = set()
        deadline = time.monotonic() + START_TIMEOUT_S
        while len(seen) < 2:
            if proc.poll() is not None:
                pytest.fail(f"llmpilot serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"not 2 workers after {START_TIMEOUT_S:g} s ({seen}):\n{log.read_text()[-3000:]}")
            try:
                seen.add(worker_of(httpx.get(f"{base_url}/api/health", timeout=2.0)))
            except httpx.TransportError:
                time.sleep(0.2)
        yield running
    finally:
        _stop(proc)


def test_two_workers_answer_over_one_store_without_losing_a_row(server: Server) -> None:
    local = threading.local()

    def client() -> httpx.Client:
        if not hasattr(local, "client"):  # one keep-alive connection per thread
            local.client = httpx.Client(base_url=server.base_url, timeout=60.0)
        made: httpx.Client = local.client
        return made

    def ask_and_rate(i: int) -> tuple[str, set[str], list[int]]:
        headers = {"Authorization": f"Bearer {server.load_keys[i % N_LOAD_KEYS]}"}
        question = f"{QUESTIONS[i % len(QUESTIONS)]} (#{i})"
        answered = client().post("/api/ask", headers=headers, json={"question": question})
        trace_id = answered.json().get("trace_id", "") if answered.status_code == 200 else ""
        rated = client().post(
            "/api/feedback", headers=headers, json={"trace_id": trace_id, "signal": "thumbs_up"}
        )
        return trace_id, {worker_of(answered), worker_of(rated)}, [answered.status_code, rated.status_code]

    started = time.monotonic()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        results = list(pool.map(ask_and_rate, range(N_ANSWERS)))
    seconds = time.monotonic() - started
    codes = Counter(code for _, _, pair in results for code in pair)
    assert codes == {200: N_ANSWERS, 201: N_ANSWERS}, f"{codes}\n{server.log.read_text()[-3000:]}"
    trace_ids = {trace_id for trace_id, _, _ in results}
    assert len(trace_ids) == N_ANSWERS
    answered_by = set().union(*(workers for _, workers, _ in results))
    assert len(answered_by) == 2

    engine = create_engine(server.store_url)
    try:
        t, f = schema.traces, schema.feedback
        with engine.connect() as conn:
            traces = conn.execute(select(t.c.id, t.c.details_json).where(t.c.id.in_(trace_ids))).all()
            n_feedback = conn.execute(
                select(func.count()).select_from(f).where(f.c.trace_id.in_(trace_ids))
            ).scalar()
            all_traces = conn.execute(select(func.count()).select_from(t)).scalar()
            versions = conn.execute(select(func.count()).select_from(schema.config_versions)).scalar()
    finally:
        engine.dispose()
    assert len(traces) == N_ANSWERS and all_traces == N_ANSWERS and n_feedback == N_ANSWERS
    # Each trace says which worker answered it: both did, and they are the workers that responded.
    pids = Counter(str(json.loads(details)["worker_pid"]) for _, details in traces)
    assert set(pids) == answered_by
    # Both workers started at once; the parent registered llmpilot.yaml as the live version once.
    assert versions == 1
    print(
        f"\n{N_ANSWERS} answers + feedback in {seconds:.1f} s ({CONCURRENCY} at a time); "
        f"per worker: {dict(pids)}"
    )


def test_a_keys_rate_limit_is_one_budget_across_both_workers(server: Server) -> None:
    """30 requests alternating between a connection to each worker: exactly RATE_LIMIT succeed (a
    limit kept per process would let 2 x RATE_LIMIT through)."""
    connections: dict[str, httpx.Client] = {}
    opened: list[httpx.Client] = []
    try:
        while len(connections) < 2 and len(opened) < 100:
            c = httpx.Client(base_url=server.base_url, timeout=30.0)
            opened.append(c)
            connections.setdefault(worker_of(c.get("/api/health")), c)
        assert len(connections) == 2, "could not open a connection to each worker"
        headers = {"Authorization": f"Bearer {server.limited_key}"}
        responses: list[httpx.Response] = []
        pair = list(connections.values())
        for i in range(30):
            responses.append(pair[i % 2].get("/v1/models", headers=headers))
    finally:
        for c in opened:
            c.close()
    by_worker: dict[str, Counter[int]] = {}
    for response in responses:
        by_worker.setdefault(worker_of(response), Counter())[response.status_code] += 1
    assert len(by_worker) == 2 and all(sum(c.values()) == 15 for c in by_worker.values())
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: RATE_LIMIT, 429: 30 - RATE_LIMIT}, by_worker
    limited: Any = next(r for r in responses if r.status_code == 429)
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(limited.headers["retry-after"]) <= 60


def test_a_worker_that_cannot_start_stops_serve_with_its_reason(tmp_path: Path) -> None:
    """No restart loop and no traceback: the parent exits 2 with the worker's one-line reason.
    (A SQLite store: several workers on one machine may share one.)"""
    cfg = parse_config(
        {
            "retrieval": {"mode": "keyword"},
            "generator": {"name": "extractive"},
            "prompt": {"template": "missing.txt"},  # found missing when a worker loads the pipeline
        }
    )
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / CONFIG_NAME).write_text(cfg.to_yaml(), encoding="utf-8")
    command = [sys.executable, "-m", "llmpilot", "serve", "-p", str(folder), "--port", str(free_port())]
    done = subprocess.run([*command, "--workers", "2"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: the serve workers could not start: cannot serve 'broken'")
    assert "missing.txt not found" in last
    assert "Traceback" not in done.stderr
