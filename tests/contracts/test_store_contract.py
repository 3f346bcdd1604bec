"""The store contract (llmpilot.testing.StoreContract) on both backends: a SQLite file and a real
PostgreSQL database (the test session's own server, tests/conftest.py `pg_url`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmpilot.testing.store import StoreContract


class TestSqliteStore(StoreContract):
    @pytest.fixture
    def store_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'store.db'}"


class TestPostgresqlStore(StoreContract):
    @pytest.fixture
    def store_url(self, pg_url: str) -> str:
        return pg_url
