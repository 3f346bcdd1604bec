"""The README's PostgreSQL quick start, command for command: `llmpilot db up`, a project pointed at it
(`store:` plus `index.vector.kind: pgvector`), ingest, `serve --workers 2`, questions answered by both
workers with citations, vectors searched in the database, `db down`. Everything is a real process."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import create_engine, text

from llmpilot.errors import LlmpilotError
from llmpilot.store import postgres
from tests.conftest import _stop, free_port
from tests.fixtures.serving import copy_samples

START_TIMEOUT_S = 180.0


def cli(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "llmpilot", *args], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f"llmpilot {' '.join(args)}: {proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def database() -> Iterator[tuple[str, Path]]:
    try:
        postgres.server_bin()
    except LlmpilotError as exc:
        pytest.skip(str(exc))
    root = Path(tempfile.mkdtemp(prefix="llmpilot-quickstart-"))
    url = cli("db", "up", "--dir", str(root / "pg"), "--port", "0").strip().splitlines()[-1]
    try:
        yield url, root
    finally:
        cli("db", "down", "--dir", str(root / "pg"))


def test_db_up_ingest_and_serve_with_two_workers(database: tuple[str, Path]) -> None:
    url, root = database
    project = root / "support"
    cli("init", "--generator", "extractive", "--store", url, str(project))
    assert not (project / "llmpilot.db").exists()  # no SQLite store was made
    config_file = project / "llmpilot.yaml"
    config = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    assert config["store"] == url  # the one line that moves the store of record
    config.setdefault("index", {}).setdefault("vector", {})["kind"] = "pgvector"
    config_file.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    docs = copy_samples(root / "docs", ("returns_ko.txt", "warranty.md", "support.txt"))
    cli("ingest", "-p", str(project), str(docs), "--no-progress")
    key = cli("keys", "create", "--tenant", "default", "-p", str(project)).strip()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = root / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llmpilot",
                "serve",
                "-p",
                str(project),
                "--port",
                str(port),
                "--workers",
                "2",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert proc.poll() is None, f"serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}"
            try:
                if httpx.get(f"{base}/api/health", timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"serve not up:\n{log.read_text()[-3000:]}"
            time.sleep(0.3)
        headers = {"Authorization": f"Bearer {key}"}
        trace_ids = []
        with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
            for _ in range(6):
                response = client.post(
                    "/api/ask",
                    json={"question": "단순 변심으로 반품하면 운송비는 얼마인가요?", "fresh": True},
                )
                assert response.status_code == 200, response.text
                body = response.json()
                assert not body["abstained"] and body["sources"][0]["doc_id"].endswith("returns_ko.txt")
                trace_ids.append(body["trace_id"])
    finally:
        _stop(proc)
    log_text = log.read_text()
    assert "Traceback" not in log_text
    engine = create_engine(url)
    with engine.connect() as conn:
        stored = conn.execute(
            text("SELECT count(*) FROM traces WHERE id = ANY(:ids)"), {"ids": trace_ids}
        ).scalar()
        documents = conn.execute(text("SELECT count(*) FROM documents")).scalar()
        vector_tables = conn.execute(
            text("SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'lp_vectors%'")
        ).scalar()
    engine.dispose()
    assert stored == len(trace_ids) and documents == 3
    assert vector_tables and vector_tables >= 1
    manifest = json.loads(
        next((project / "indexes").rglob("vector/manifest.json")).read_text(encoding="utf-8")
    )
    assert manifest["kind"] == "pgvector"
