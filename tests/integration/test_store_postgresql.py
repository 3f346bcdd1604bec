"""The migrations' frozen DDL, rendered for PostgreSQL, on a real (throwaway) PostgreSQL server.

No Python driver is needed (PostgreSQL support in the store comes later): the statements go through
psql. Skipped where the PostgreSQL server binaries are not installed.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmpilot.store import migrations, schema


def _pg_user_prefix() -> list[str] | None:
    """How to run the PostgreSQL server binaries here (initdb refuses to run as root)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("runuser") is None:
        return None
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        return None
    return ["runuser", "-u", "postgres", "--"]


@pytest.fixture
def postgres_socket() -> Iterator[Path]:
    """A throwaway PostgreSQL server listening on a Unix socket only; yields the socket folder."""
    prefix = _pg_user_prefix()
    if prefix is None or not all(shutil.which(b) for b in ("initdb", "pg_ctl", "psql")):
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl, psql) are not available")
    # Not under tmp_path: pytest's folders are private to this user, and the server may run as another.
    folder = Path(tempfile.mkdtemp(prefix="llmpilot-pg-"))
    if prefix:
        shutil.chown(folder, "postgres")
    data = folder / "data"
    run = functools.partial(subprocess.run, check=True, capture_output=True)
    try:
        run([*prefix, "initdb", "-D", str(data), "-A", "trust", "-U", "postgres"])
        options = f"-k {folder} -c listen_addresses='' -p 5433"
        run([*prefix, "pg_ctl", "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"])
        try:
            yield folder
        finally:
            run([*prefix, "pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop"])
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_migration_ddl_runs_on_postgresql(postgres_socket: Path) -> None:
    types = migrations.types_for("postgresql")
    statements = [migrations._MIGRATIONS_DDL, *migrations.M001_CORE, *migrations.M002_TRIALS]
    statements += [*migrations.M003_SERVING, *migrations.M004_ANSWER_CACHE, *migrations.M005_ADAPTERS]
    statements += [*migrations.M006_MONITORING, *migrations.M007_SHARED_SERVING_STATE]
    statements += [*migrations.M008_SOURCE_DOCUMENTS]
    script = ["BEGIN;", *(s.format(**types).strip() + ";" for s in statements)]
    # Rows through the dialect-switched types: SERIAL ids, BYTEA vectors, timestamptz.
    script += [
        "INSERT INTO runs (kind, config_hash, config_json, status, started_at) "
        "VALUES ('ingest', 'c', '{}', 'running', now());",
        "INSERT INTO ingest_problems (run_id, source, reason) VALUES (1, 's', 'r');",
        "INSERT INTO embeddings VALUES ('m', 'h', 4, '\\x00010203'::bytea);",
        "INSERT INTO answer_cache VALUES ('e', 't', 'c', 's', 'q', 'q', '\\x00010203'::bytea, '{}', '{}', "
        "'{}', 0, now(), now());",
        "INSERT INTO adapters VALUES ('a', 'house', 'lora', 'smollm2-135m', 'h', '/x', '{}', '{}', now());",
        "INSERT INTO traces VALUES ('t1', 'acme', 'c', 'q', 'a', 0, '', 0.5, '[]', '[]', '{}', '{}', 'h', "
        "now());",
        "INSERT INTO trace_meta VALUES ('t1', 1, 'live', NULL, '[]', 3, 0.0);",
        "INSERT INTO config_versions (config_hash, config_yaml, source, note, status, created_by, "
        "created_at) "
        "VALUES ('h', 'version: 1', 'llmpilot.yaml', '', 'live', 'ops', now());",
        "INSERT INTO experiments (candidate_version, live_version, mode, fraction, status, started_at) "
        "VALUES (1, 1, 'shadow', 1.0, 'running', now());",
        "INSERT INTO shadow_answers (experiment_id, trace_id, config_version, answer_json, scores_json, "
        "created_at) "
        "VALUES (1, 't1', 1, '{}', '{}', now());",
        "INSERT INTO api_keys (tenant, role, name, key_hash, created_at) "
        "VALUES ('acme', 'user', 'k', 'h', now());",
        "INSERT INTO sessions VALUES ('t', 1, now(), now() + interval '1 hour');",
        "INSERT INTO rate_windows VALUES (1, 1767225600.25, 1) "
        "ON CONFLICT (key_id) DO UPDATE SET hits = rate_windows.hits + 1;",
        "INSERT INTO rate_windows VALUES (1, 1767225600.25, 1) "
        "ON CONFLICT (key_id) DO UPDATE SET hits = rate_windows.hits + 1;",
        "COMMIT;",
        "SELECT json_build_object('tables', (SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'public'), 'run', (SELECT id FROM runs), "
        "'bytes', (SELECT length(vector) FROM embeddings), "
        "'window', (SELECT json_build_array(window_start, hits) FROM rate_windows));",
    ]
    out = subprocess.run(
        ["psql", "-h", str(postgres_socket), "-p", "5433", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-qAt"],
        input="\n".join(script),
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {
        "tables": len(schema.metadata.tables),
        "run": 1,
        "bytes": 4,
        "window": [1767225600.25, 2],  # FLOAT keeps sub-second Unix times; the upsert counted twice
    }
