"""Migrations on a real PostgreSQL: processes opening a new store at once migrate it once (the
advisory lock in migrate()), and a migration that fails halfway leaves nothing behind (DDL is
transactional there)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text

from llmpilot.store import migrations
from llmpilot.store.db import Store
from llmpilot.store.migrations import MIGRATIONS
from tests.unit.test_migrations import OPENER

ALL = [name for name, _ in MIGRATIONS]


def test_processes_opening_a_new_postgresql_store_at_once_migrate_it_once(
    pg_url: str, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, pg_url, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    go.touch()
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert out.strip() == ",".join(ALL)
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM migrations")).scalar() == len(ALL)
    engine.dispose()


def test_a_failing_migration_leaves_nothing_half_done_on_postgresql(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def m999_broken(conn: Any) -> None:
        conn.exec_driver_sql("CREATE TABLE half_done (id INTEGER NOT NULL, PRIMARY KEY (id))")
        raise RuntimeError("m999 failed halfway")

    monkeypatch.setattr(migrations, "MIGRATIONS", [*MIGRATIONS, ("m999_broken", m999_broken)])
    with pytest.raises(RuntimeError, match="halfway"):
        Store.open(pg_url)
    engine = create_engine(pg_url)
    # Nothing of the run survives: not m999's table, not the tables of the migrations before it.
    assert "half_done" not in inspect(engine).get_table_names()
    assert "documents" not in inspect(engine).get_table_names()
    engine.dispose()
    monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS)
    Store.open(pg_url).close()  # the fixed version then migrates normally
