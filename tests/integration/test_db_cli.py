"""`llmpilot db up / status / down` for real: a PostgreSQL + pgvector server in a throwaway folder."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from llmpilot.errors import LlmpilotError
from llmpilot.store import postgres


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmpilot", *args], capture_output=True, text=True, timeout=120
    )


def test_db_up_status_down_round_trip() -> None:
    try:
        postgres.server_bin()
    except LlmpilotError as exc:
        pytest.skip(str(exc))
    folder = Path(tempfile.mkdtemp(prefix="llmpilot-dbcli-")) / "pg"
    up = _cli("db", "up", "--dir", str(folder), "--port", "0", "--json")
    assert up.returncode == 0, up.stderr
    info = json.loads(up.stdout.strip().splitlines()[-1])
    assert set(info) >= {"url", "dir", "pid"} and info["dir"] == str(folder.resolve())
    try:
        engine = create_engine(info["url"])
        with engine.connect() as conn:
            version = conn.execute(
                text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            ).scalar()
            distance = conn.execute(text("SELECT '[1,0]'::vector <=> '[0,1]'::vector")).scalar()
        engine.dispose()
        assert version and distance == pytest.approx(1.0)
        # A second `up` finds it running and prints the same URL on the last line.
        again = _cli("db", "up", "--dir", str(folder))
        assert again.returncode == 0 and again.stdout.strip().splitlines()[-1] == info["url"]
        assert "already running" in again.stdout
        status = _cli("db", "status", "--dir", str(folder), "--json")
        assert status.returncode == 0 and json.loads(status.stdout)["pid"] == info["pid"]
        # Another port for a running server: refused with what to do, no traceback.
        moved = _cli("db", "up", "--dir", str(folder), "--port", str(info["port"] + 1))
        assert moved.returncode == 2 and "db down" in moved.stderr and "Traceback" not in moved.stderr
    finally:
        down = _cli("db", "down", "--dir", str(folder))
    assert down.returncode == 0 and "stopped" in down.stdout
    assert _cli("db", "status", "--dir", str(folder)).returncode == 1
    assert "no PostgreSQL server is running" in _cli("db", "down", "--dir", str(folder)).stdout
    # Data survives down/up: the database and extension are still there.
    up2 = _cli("db", "up", "--dir", str(folder), "--port", "0", "--json")
    assert up2.returncode == 0, up2.stderr
    _cli("db", "down", "--dir", str(folder))


def test_an_open_store_survives_a_server_restart() -> None:
    """`serve` keeps its Store for days: after the server restarts, the next call reconnects
    (pooled connections are pinged before use) instead of failing on a dead socket."""
    from llmpilot.store.db import Store

    try:
        postgres.server_bin()
    except LlmpilotError as exc:
        pytest.skip(str(exc))
    folder = Path(tempfile.mkdtemp(prefix="llmpilot-dbrestart-")) / "pg"
    info = postgres.up(folder, port=0)
    try:
        store = Store.open(info.url)
        run_id = store.start_run("ingest", "c", {})
        assert postgres.down(folder)
        postgres.up(folder, port=info.port)
        store.finish_run(run_id, "done", {}, 0.1)
        assert [r["status"] for r in store.runs("ingest")] == ["done"]
        store.close()
    finally:
        postgres.down(folder)
