"""Two processes ingesting into one project at once: the second waits for the store's writer lock,
both finish, and the store holds exactly what one ingest alone produces (before the lock, the
second one failed with IntegrityError on the rows the first had just written)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from llmpilot.ingest import Ingestor
from llmpilot.project import Project
from llmpilot.sources.files import discover_files
from llmpilot.store import schema
from llmpilot.store.db import Store

CONFIG = """\
store: {store}
embedder: {name: hashing}
chunking: {method: recursive, size: 200, overlap: 20}
"""

# One ingest, as `llmpilot ingest` runs it (without the index build that follows it there).
INGEST = """
import json, sys
from pathlib import Path
from llmpilot.ingest import Ingestor
from llmpilot.project import Project
from llmpilot.sources.files import discover_files

project = Project.open(Path(sys.argv[1]))
found = discover_files([Path(sys.argv[2])])
report = Ingestor(project).run(found.units, origins=found.origins, errors=found.errors, skipped=found.skipped)
print(json.dumps({k: getattr(report, k) for k in ("documents_written", "units_unchanged", "chunks_written")}))
"""

HANG_GUARD_S = 300.0  # bounds waits that would hang if the lock were broken; nothing is timed


def make_corpus(root: Path, n: int = 40) -> Path:
    words = ["battery", "solar", "panel", "warranty", "install", "support", "invoice", "refund", "grid"]
    rng = random.Random(11)
    corpus = root / "corpus"
    corpus.mkdir()
    for i in range(n):
        paragraphs = [" ".join(rng.choice(words) for _ in range(60)) for _ in range(3)]
        text = f"Document {i}\n\n" + "\n\n".join(paragraphs)
        (corpus / f"doc{i:02d}.txt").write_text(text, encoding="utf-8")
    return corpus


def make_project(folder: Path, store: str = "sqlite:///llmpilot.db") -> Project:
    folder.mkdir()
    (folder / "llmpilot.yaml").write_text(CONFIG.replace("{store}", store), encoding="utf-8")
    return Project.open(folder)


def contents(store: Store, chunk_set: str) -> dict[str, Any]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(schema.sources.c.key, schema.sources.c.fingerprint))
        sources = sorted(tuple(r) for r in rows)
        embeddings = conn.execute(select(func.count()).select_from(schema.embeddings)).scalar_one()
    chunks, hashes = store.chunks(chunk_set)
    return {
        "sources": sources,
        "documents": sorted((d.document.id, d.content_hash) for d in store.documents()),
        "chunks": sorted(zip((c.id for c in chunks), hashes, strict=True)),
        "embeddings": embeddings,
    }


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_processes_ingest_into_one_project_at_once(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    """On PostgreSQL the writer lock is an advisory lock instead of flock: same behaviour."""
    corpus = make_corpus(tmp_path)
    store = "sqlite:///llmpilot.db" if backend == "sqlite" else request.getfixturevalue("pg_url")
    project = make_project(tmp_path / "project", store)
    gate = Store.open(project.store_url)
    children: list[subprocess.Popen[str]] = []
    logs = [tmp_path / f"child{i}.err" for i in range(2)]
    # Hold the lock while both children start, so that both are provably contending for it at once.
    with gate.writer_lock("test: holding both ingests at the start line"):
        for log in logs:
            with log.open("w") as err:
                children.append(
                    subprocess.Popen(
                        [sys.executable, "-c", INGEST, str(project.root), str(corpus)],
                        stdout=subprocess.PIPE,
                        stderr=err,
                        text=True,
                    )
                )
        deadline = time.monotonic() + HANG_GUARD_S
        while not all("waiting for the writer lock" in log.read_text() for log in logs):
            for child, log in zip(children, logs, strict=True):
                assert child.poll() is None, f"an ingest ran without waiting for the lock:\n{log.read_text()}"
            assert time.monotonic() < deadline, "the ingests never reported waiting for the lock"
            time.sleep(0.05)
    reports = []
    for child, log in zip(children, logs, strict=True):
        stdout, _ = child.communicate(timeout=HANG_GUARD_S)
        assert child.returncode == 0, log.read_text()
        assert "Traceback" not in log.read_text()
        reports.append(json.loads(stdout.strip().splitlines()[-1]))
    gate.close()

    # One of them wrote everything; the other, run after it, found every file unchanged.
    first, second = sorted(reports, key=lambda r: -r["documents_written"])
    assert first["documents_written"] == 40 and first["chunks_written"] > 0
    assert second == {"documents_written": 0, "units_unchanged": 40, "chunks_written": 0}
    store = project.store
    assert [r["status"] for r in store.runs("ingest")] == ["done", "done"]

    # Nothing duplicated or lost: the same rows as one ingest alone into a fresh project.
    reference = make_project(tmp_path / "reference")
    found = discover_files([corpus])
    Ingestor(reference).run(found.units, origins=found.origins, errors=found.errors, skipped=found.skipped)
    chunk_set = project.config.chunks_hash()
    expected = contents(reference.store, chunk_set)
    assert len(expected["documents"]) == 40 and expected["embeddings"] == len(expected["chunks"])
    assert contents(store, chunk_set) == expected
    project.close()
    reference.close()
