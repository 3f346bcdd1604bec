"""The vector index contract (llmpilot.testing.VectorIndexContract) on every built-in vector index,
plus loading by manifest kind (`load_vector_index`), which only knows the built-ins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmpilot.errors import StoreError
from llmpilot.index.vector import load_vector_index
from llmpilot.testing import VectorIndexContract
from llmpilot.testing.vector_index import DIM, IDS, VECTORS, make_vector_index, unit_vectors

#: The built-in vector indexes this module runs the contract on (tests/contracts/test_coverage.py checks it).
COVERED = ["exact", "hnsw"]


class TestBuiltinVectorIndexes(VectorIndexContract):
    @pytest.fixture(params=COVERED)
    def vector_index_kind(self, request: pytest.FixtureRequest) -> str:
        return str(request.param)


@pytest.mark.parametrize("kind", COVERED)
def test_load_by_manifest_kind(kind: str, tmp_path: Path) -> None:
    index = make_vector_index(kind)
    index.build(IDS, VECTORS)
    index.save(tmp_path / "vec")
    assert json.loads((tmp_path / "vec" / "manifest.json").read_text(encoding="utf-8"))["dim"] == DIM
    loaded = load_vector_index(tmp_path / "vec")
    assert type(loaded) is type(index)
    queries = unit_vectors(10, seed=3)
    assert loaded.search(queries, k=7) == index.search(queries, k=7)


@pytest.mark.parametrize("kind", COVERED)
def test_load_errors_are_clear(kind: str, tmp_path: Path) -> None:
    index = make_vector_index(kind)
    index.build(IDS, VECTORS)
    with pytest.raises(StoreError, match=r"manifest\.json missing"):
        load_vector_index(tmp_path / "nowhere")
    index.save(tmp_path / "v")
    manifest_file = tmp_path / "v" / "manifest.json"
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    manifest["kind"] = "faiss"
    manifest_file.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(StoreError, match="kind"):
        load_vector_index(tmp_path / "v")
    index.save(tmp_path / "w")
    (tmp_path / "w" / "ids.json").unlink()
    with pytest.raises(StoreError, match=r"ids\.json"):
        load_vector_index(tmp_path / "w")
