"""The vector index contract (unchanged) on `index.vector.kind: pgvector`, HNSW and IVFFlat, against
a real PostgreSQL + pgvector server: a fresh database for this module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llmpilot import registry
from llmpilot.config import VectorIndexConfig
from llmpilot.index.pgdb import URL_ENV
from llmpilot.index.pgvector import PgVectorIndex
from llmpilot.testing import VectorIndexContract
from tests.pg_database import fresh_database

#: The built-in vector index this module covers (tests/contracts/test_coverage.py checks it).
COVERED = ["pgvector"]


@pytest.fixture(scope="module")
def pg_db(pg_server: str) -> Iterator[str]:
    with fresh_database(pg_server, "pgv_contract") as url:
        yield url


class TestPgVectorIndex(VectorIndexContract):
    @pytest.fixture(params=["hnsw", "ivfflat"])
    def vector_index_kind(
        self, request: pytest.FixtureRequest, pg_db: str, monkeypatch: pytest.MonkeyPatch
    ) -> str:
        # The contract builds `VectorIndexConfig(kind="pgvector")`: the database comes from the
        # environment (as for any unattached index), the method from this registration.
        monkeypatch.setenv(URL_ENV, pg_db)
        method = str(request.param)

        def factory(cfg: VectorIndexConfig, dim: int) -> PgVectorIndex:
            return PgVectorIndex(cfg.model_copy(update={"method": method}), dim)

        monkeypatch.setitem(registry.vector_indexes._factories, "pgvector", factory)
        return "pgvector"
