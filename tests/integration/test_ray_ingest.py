"""Ingest on a real local Ray cluster ends with the same store as in process (issue 17)."""

from __future__ import annotations

import shutil
import sqlite3
import sys
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from llmpilot.config import parse_config
from llmpilot.errors import ModelNotAvailableError
from llmpilot.extras import MissingExtraError
from llmpilot.ingest import Ingestor, IngestReport, PreparedUnit
from llmpilot.project import Project
from llmpilot.sources.base import SourceUnit
from llmpilot.sources.files import discover_files
from llmpilot.sources.sql import sql_unit
from llmpilot.store import schema

ray = pytest.importorskip("ray")

from llmpilot.ingest_ray import RayExecutor, ships_to_workers  # noqa: E402

#: Report fields that must match (everything but the run id and timings).
COUNTS = (
    "units_seen",
    "units_loaded",
    "units_unchanged",
    "units_failed",
    "units_removed",
    "documents_written",
    "duplicates",
    "documents_chunked",
    "chunks_written",
    "passages_embedded",
    "embedding_cache_hits",
    "problems",
    "failed",
    "skipped",
)


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def corpus(root: Path, names: tuple[str, ...] = ()) -> tuple[Path, Path]:
    """The sample corpus plus an exact copy (dedup across units), an empty file and a JSONL file
    with a bad row (problems), and a SQLite table (a unit that must be loaded on the driver).
    `names`: only these sample files (the real model is slow on a busy 2-core machine)."""
    docs = root / "docs"
    docs.mkdir()
    sample = resources.files("llmpilot") / "sample_corpus"
    for item in sample.iterdir():
        if item.name.endswith((".md", ".txt", ".html", ".csv")) and (not names or item.name in names):
            (docs / item.name).write_bytes(item.read_bytes())
    shutil.copy(docs / "warranty.md", docs / "warranty-copy.md")
    (docs / "empty.txt").write_text("", encoding="utf-8")
    (docs / "rows.jsonl").write_text(
        '{"id": "r1", "text": "Refunds reach the card within five business days."}\nnot json\n',
        encoding="utf-8",
    )
    db = root / "faq.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE faq (id INTEGER, body TEXT)")
        conn.executemany(
            "INSERT INTO faq VALUES (?, ?)",
            [(1, "The inverter is covered for five years."), (2, "Batteries ship within two weeks.")],
        )
    return docs, db


def units_of(docs: Path, db: Path) -> tuple[list[SourceUnit], list[str]]:
    found = discover_files([docs])
    sql = sql_unit(f"sqlite:///{db}", "SELECT id, body FROM faq", text_column="body", id_column="id")
    return [*found.units, sql], [*found.origins, sql.origin]


def make_project(root: Path, embedder: str, size: int) -> Project:
    cfg = parse_config(
        {
            "embedder": {"name": embedder, "batch_size": 4},
            "chunking": {"method": "recursive", "size": size, "overlap": 20},
            "retrieval": {"mode": "hybrid", "top_k": 3},
        }
    )
    return Project.from_config(root, cfg)


def ingest(project: Project, docs: Path, db: Path, executor: RayExecutor | None = None) -> IngestReport:
    units, origins = units_of(docs, db)
    ingestor = Ingestor(project, executor=executor)
    ingestor.group_chunks = 8  # several groups, so dedup and cache hits cross group boundaries
    return ingestor.run(units, origins=origins)


def rows(project: Project) -> dict[str, list[tuple[Any, ...]]]:
    tables = {
        "sources": [c for c in schema.sources.c if c.name != "updated_at"],
        "documents": [c for c in schema.documents.c if c.name != "updated_at"],
        "chunks": list(schema.chunks.c),
        "chunked_documents": list(schema.chunked_documents.c),
        "embeddings": list(schema.embeddings.c),
    }
    out = {}
    with project.store.engine.connect() as conn:
        for name, columns in tables.items():
            out[name] = sorted(tuple(r) for r in conn.execute(select(*columns)))
    return out


def counts(report: IngestReport) -> dict[str, Any]:
    return {k: getattr(report, k) for k in COUNTS}


def assert_same_store(
    tmp_path: Path, embedder: str, size: int, names: tuple[str, ...] = ()
) -> tuple[Project, Path, Path, RayExecutor]:
    docs, db = corpus(tmp_path, names)
    local = make_project(tmp_path / "local", embedder, size)
    remote = make_project(tmp_path / "ray", embedder, size)
    expected = ingest(local, docs, db)
    executor = RayExecutor(remote.config, workers=2)
    got = ingest(remote, docs, db, executor)

    assert counts(got) == counts(expected)
    # Every file unit was prepared by a worker (the SQL one here), and every passage embedded there.
    n_files = len(units_of(docs, db)[0]) - 1
    assert executor.pool.sent["prepare"] == n_files
    assert executor.pool.sent["embed"] >= got.passages_embedded / 4
    assert expected.duplicates >= 1 and expected.units_failed == 0 and expected.problems
    assert expected.passages_embedded > 0
    want, have = rows(local), rows(remote)
    for table in want:
        assert have[table] == want[table], table
    local.close()
    return remote, docs, db, executor


def test_ray_ingest_matches_in_process_and_resumes_with_nothing_to_do(tmp_path: Path, cluster: None) -> None:
    remote, docs, db, executor = assert_same_store(tmp_path, "hashing", 120)
    try:
        again = ingest(remote, docs, db, executor)
        # Files are unchanged; the SQL unit (no fingerprint) is always reloaded, its passages cached.
        assert again.units_unchanged == again.units_seen - 1 and again.units_loaded == 1
        assert again.passages_embedded == 0 and again.embedding_cache_hits > 0
    finally:
        executor.close()
        remote.close()
    assert ray.is_initialized()  # the executor leaves a cluster it did not start running


def test_ray_ingest_with_the_local_e5_model_matches_byte_for_byte(tmp_path: Path, cluster: None) -> None:
    remote, _, _, executor = assert_same_store(tmp_path, "e5-small", 300, ("warranty.md", "support.txt"))
    executor.close()
    remote.close()


def test_an_interrupted_ray_ingest_resumes_to_the_same_store(tmp_path: Path, cluster: None) -> None:
    docs, db = corpus(tmp_path)
    local = make_project(tmp_path / "local", "hashing", 120)
    ingest(local, docs, db)
    remote = make_project(tmp_path / "ray", "hashing", 120)
    with RayExecutor(remote.config, workers=2) as executor:
        prepare = executor.prepare

        def interrupted(units: Sequence[SourceUnit]) -> Iterator[PreparedUnit]:
            for i, prepared in enumerate(prepare(units)):
                if i == 7:  # Ctrl-C on the driver, with work in flight on the workers
                    raise KeyboardInterrupt
                yield prepared

        executor.prepare = interrupted  # type: ignore[method-assign]
        with pytest.raises(KeyboardInterrupt):
            ingest(remote, docs, db, executor)
        committed = len(rows(remote)["documents"])
        executor.prepare = prepare  # type: ignore[method-assign]
        resumed = ingest(remote, docs, db, executor)
    assert 0 < committed < len(rows(local)["documents"])  # some groups made it before the stop
    assert resumed.units_unchanged > 0
    want, have = rows(local), rows(remote)
    for table in want:
        assert have[table] == want[table], table
    local.close()
    remote.close()


def test_a_worker_error_reaches_the_driver_as_the_same_error(tmp_path: Path, cluster: None) -> None:
    # An embedding server nobody listens on: only found out when a worker embeds.
    docs, db = corpus(tmp_path, ("warranty.md",))
    cfg = {"embedder": {"name": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "e5"}}
    errors = []
    for name, executor_of in (("local", lambda _: None), ("ray", lambda c: RayExecutor(c, workers=1))):
        project = Project.from_config(tmp_path / name, parse_config(cfg))
        executor = executor_of(project.config)
        with pytest.raises(ModelNotAvailableError) as exc:
            ingest(project, docs, db, executor)
        errors.append((type(exc.value), str(exc.value)))
        if executor is not None:
            executor.close()
        project.close()
    assert errors[0] == errors[1] and "127.0.0.1:9" in errors[0][1]


def test_without_ray_installed_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` sees when it is not installed
    with pytest.raises(MissingExtraError, match=r"pip install 'llmpilot\[optimize\]'"):
        RayExecutor(parse_config({"embedder": {"name": "hashing"}}), workers=1)


def test_sql_units_stay_on_the_driver_and_files_ship(tmp_path: Path) -> None:
    docs, db = corpus(tmp_path)
    units, _ = units_of(docs, db)
    assert [ships_to_workers(u) for u in units] == [True] * (len(units) - 1) + [False]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--ray-workers", "2", "--ray-address", "auto"],
            "--ray-workers and --ray-address cannot be used together",
        ),
        (["--ray-workers", "0"], "--ray-workers must be at least 1"),
        (["--ray-address", "127.0.0.1:9"], "--ray-address 127.0.0.1:9: nothing answers at 127.0.0.1:9"),
    ],
)
def test_bad_ray_options_are_one_clear_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    from llmpilot.cli import main

    docs, _ = corpus(tmp_path)
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "llmpilot.yaml").write_text("embedder: {name: hashing}\n", encoding="utf-8")
    monkeypatch.setattr(
        "sys.argv", ["llmpilot", "ingest", "--no-progress", "-p", str(tmp_path / "p"), *args, str(docs)]
    )
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
