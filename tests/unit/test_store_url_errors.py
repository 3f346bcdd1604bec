"""A bad `store` URL or a missing database driver: one clear line naming the setting, no traceback."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from llmpilot.errors import StoreError
from llmpilot.store.db import Store

LLMPILOT = Path(sys.executable).with_name("llmpilot")


def _missing_postgres_driver() -> str:
    """A PostgreSQL driver that is not installed here (psycopg is SQLAlchemy's default)."""
    for driver, module in (("psycopg", "psycopg"), ("pg8000", "pg8000"), ("psycopg2", "psycopg2")):
        if importlib.util.find_spec(module) is None:
            return driver
    pytest.skip("every PostgreSQL driver tried is installed")


def status_with_store(tmp_path: Path, store: str) -> str:
    """Run `llmpilot status` on a project whose `store` is `store`; returns its stderr."""
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    (project / "llmpilot.yaml").write_text(f"store: '{store}'\n", encoding="utf-8")
    done = subprocess.run(
        [str(LLMPILOT), "status", "-p", str(project)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: `store` in {project / 'llmpilot.yaml'}: ")
    return lines[0]


def test_unknown_database_kind(tmp_path: Path) -> None:
    line = status_with_store(tmp_path, "notadb://x")
    assert "'notadb://x' names a database kind llmpilot cannot use ('notadb'" in line
    assert "set it to a SQLAlchemy URL such as sqlite:///llmpilot.db" in line


def test_sqlite_store_in_a_folder_that_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent" / "dir"
    line = status_with_store(tmp_path, f"sqlite:///{missing / 'x.db'}")
    assert f"the folder of the SQLite store 'sqlite:///{missing / 'x.db'}' does not exist ({missing})" in line
    assert "create it, or set it to" in line
    assert not missing.exists()


def test_missing_postgresql_driver_says_what_to_install(tmp_path: Path) -> None:
    driver = _missing_postgres_driver()
    line = status_with_store(tmp_path, f"postgresql+{driver}://user:s3cret@localhost/llmpilot")
    assert f"the database driver for 'postgresql+{driver}' is not installed" in line
    assert "pip install" in line and "s3cret" not in line


def test_not_a_url_at_all(tmp_path: Path) -> None:
    line = status_with_store(tmp_path, "my database")
    assert "'my database' is not a database URL" in line


def test_a_file_that_is_not_a_store(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("these are notes, not a database\n" * 100, encoding="utf-8")
    line = status_with_store(tmp_path, f"sqlite:///{notes}")
    assert "file is not a database" in line and "check that it names an llmpilot store" in line


def test_store_open_names_the_setting_it_was_given() -> None:
    with pytest.raises(StoreError, match=r"^`store` in x\.yaml: 'notadb://x' names a database kind"):
        Store.open("notadb://x", setting="`store` in x.yaml")
