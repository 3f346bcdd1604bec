"""The model catalog (models/catalog.py, `llmpilot models list`): local entries and their cards, a GGUF
path's header, endpoints and adapters from a project, the JSON shape, and errors for bad paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from llmpilot.errors import ModelNotAvailableError
from llmpilot.finetune.registry import AdapterRegistry
from llmpilot.generation.chat_formats import HEADER_READER, read_gguf_header
from llmpilot.generation.models import LOCAL_MODELS, smollm2_gguf_path
from llmpilot.models.catalog import CatalogEntry, catalog_entries
from llmpilot.models.cli_list import entry_lines, list_command
from llmpilot.project import Project

ENTRY_KEYS = {
    "name", "kind", "description", "available", "status", "generator", "parameters", "architecture",
    "context_length", "quantization", "chat_tuned", "chat_format", "languages", "licence", "file_bytes",
    "download_bytes", "get", "source", "path", "base_url", "api_key_env", "api_key_set", "header_reader",
    "used_in", "notes",
}  # fmt: skip


@pytest.fixture
def smollm2() -> Path:
    return smollm2_gguf_path()


def project_with(tmp_path: Path, generator: dict[str, object]) -> Path:
    root = tmp_path / "proj"
    root.mkdir(parents=True)
    (root / "llmpilot.yaml").write_text(
        yaml.safe_dump({"store": "sqlite:///llmpilot.db", "generator": generator}), encoding="utf-8"
    )
    return root


def by_name(entries: list[CatalogEntry]) -> dict[str, CatalogEntry]:
    return {e.name: e for e in entries}


def test_every_local_model_is_an_entry_with_its_card(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LLMPILOT_MODELS", str(tmp_path / "empty"))  # nothing fetched there
    entries = catalog_entries()
    assert [e.name for e in entries] == list(LOCAL_MODELS)
    for e in entries:
        card = LOCAL_MODELS[e.name].card
        assert e.kind == "local" and e.generator == {"name": "llama-cpp", "model": e.name}
        assert (e.parameters, e.context_length, e.quantization) == (
            card.parameters,
            card.context_length,
            card.quantization,
        )
        assert e.licence and e.get and e.chat_format and e.download_bytes
        assert set(e.to_dict()) == ENTRY_KEYS
    fetched = [e for e in entries if LOCAL_MODELS[e.name].fetched]
    assert fetched, "the catalog has fetched models"
    for e in fetched:
        assert e.available is False and e.status == f"not fetched: llmpilot models fetch {e.name}"
    gemma = by_name(entries)["gemma3-270m"]
    assert gemma.chat_tuned is False and "'gemma'" in (gemma.chat_format or "")


def test_cards_match_the_gguf_headers_of_the_models_present() -> None:
    """The catalog's facts are the files' facts (checked for every model on this machine)."""
    checked = []
    for m in LOCAL_MODELS.values():
        if not m.present():
            continue
        h = read_gguf_header(m.locate())
        assert (h.architecture, h.size_label, h.context_length, h.quantization) == (
            m.card.architecture,
            m.card.parameters,
            m.card.context_length,
            m.card.quantization,
        ), m.name
        # A catalog chat_format is only for files without a template (the template would win anyway).
        assert (h.chat_template is None) == (m.card.chat_format is not None), m.name
        checked.append(m.name)
    assert "smollm2-135m" in checked  # a core dependency: always here


def test_a_gguf_paths_header_is_read(smollm2: Path) -> None:
    entry = catalog_entries(gguf=[smollm2])[-1]
    assert entry.kind == "gguf" and entry.available is True and entry.name == smollm2.name
    assert (entry.architecture, entry.parameters, entry.context_length, entry.quantization) == (
        "llama",
        "135M",
        8192,
        "Q4_1",
    )
    assert entry.chat_format == "the GGUF's own template (ChatML)" and entry.chat_tuned is True
    assert entry.file_bytes == smollm2.stat().st_size and entry.licence == "apache-2.0"
    assert entry.header_reader == HEADER_READER
    assert entry.generator == {"name": "llama-cpp", "model_path": str(smollm2.resolve())}
    assert json.loads(json.dumps(entry.to_dict()))["architecture"] == "llama"


def test_a_missing_gguf_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelNotAvailableError, match=r"nope\.gguf: no such file"):
        catalog_entries(gguf=[tmp_path / "nope.gguf"])


def test_a_file_that_is_not_gguf_is_a_clear_error(tmp_path: Path) -> None:
    text = tmp_path / "notes.gguf"
    text.write_text("hello", encoding="utf-8")
    with pytest.raises(ModelNotAvailableError, match=r"notes\.gguf: not a GGUF file"):
        catalog_entries(gguf=[text])
    with pytest.raises(ModelNotAvailableError, match="not a file"):
        catalog_entries(gguf=[tmp_path])


def test_endpoint_from_the_project_config_never_shows_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("H5_TEST_KEY", "sk-very-secret-value")
    root = project_with(
        tmp_path,
        {
            "name": "openai",
            "base_url": "http://127.0.0.1:9/v1",
            "model": "qwen-7b",
            "api_key_env": "H5_TEST_KEY",
        },
    )
    entries = catalog_entries(project=root)
    [endpoint] = [e for e in entries if e.kind == "endpoint"]
    assert (endpoint.name, endpoint.base_url, endpoint.api_key_env, endpoint.api_key_set) == (
        "qwen-7b",
        "http://127.0.0.1:9/v1",
        "H5_TEST_KEY",
        True,
    )
    assert endpoint.available is None and endpoint.used_in == ("config",)
    assert endpoint.generator == {"name": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "qwen-7b"}
    dumped = json.dumps([e.to_dict() for e in entries]) + "\n".join(entry_lines(endpoint))
    assert "sk-very-secret-value" not in dumped
    assert "$H5_TEST_KEY (set)" in "\n".join(entry_lines(endpoint))


def test_configured_local_model_and_missing_model_path_are_marked(tmp_path: Path) -> None:
    root = project_with(tmp_path, {"name": "llama-cpp", "model": "gemma3-270m"})
    assert by_name(catalog_entries(project=root))["gemma3-270m"].used_in == ("config",)

    missing = project_with(tmp_path / "b", {"name": "llama-cpp", "model_path": "models/absent.gguf"})
    entry = by_name(catalog_entries(project=missing))["absent.gguf"]
    assert entry.available is False and entry.status.startswith("missing: ")
    assert entry.path == str(missing / "models" / "absent.gguf")  # resolved against the project


def test_search_space_models_are_listed_once_with_where_they_are_used(tmp_path: Path, smollm2: Path) -> None:
    space = tmp_path / "space.yaml"
    space.write_text(
        yaml.safe_dump(
            {"generator": {"name": "llama-cpp", "model": ["smollm2-135m", "gemma3-270m"], "seed": [0, 1]}}
        ),
        encoding="utf-8",
    )
    entries = by_name(catalog_entries(spaces=[space], gguf=[smollm2]))
    assert entries["smollm2-135m"].used_in == (f"space {space}",)
    assert entries["gemma3-270m"].used_in == (f"space {space}",)
    assert entries["qwen2.5-coder-0.5b"].used_in == ()


def test_registered_adapters_are_listed(tmp_path: Path) -> None:
    root = project_with(tmp_path, {"name": "llama-cpp"})
    adapter_dir = tmp_path / "adapter-1"
    adapter_dir.mkdir()
    AdapterRegistry(Project.open(root).store).register(
        name="faq-lora",
        method="lora",
        base="smollm2-135m",
        data_hash="abc",
        adapter_dir=adapter_dir,
        config={},
        metrics={"rougeL": 0.41},
    )
    [adapter] = [e for e in catalog_entries(project=root) if e.kind == "adapter"]
    assert (adapter.name, adapter.available, adapter.generator["name"]) == ("faq-lora", True, "transformers")
    assert adapter.notes["metrics"] == {"rougeL": 0.41}
    assert by_name(catalog_entries(project=root))["smollm2-135m"].used_in == ("config",)  # the default


def test_list_command_json_and_text(smollm2: Path) -> None:
    app = typer.Typer()
    app.command("list")(list_command)
    app.command("unused")(lambda: None)  # two commands, so `list` is a subcommand as under `models`
    runner = CliRunner()
    result = runner.invoke(app, ["list", "--json", "--gguf", str(smollm2)])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert set(payload) == {"models", "models_dir", "header_reader"}
    assert [m["name"] for m in payload["models"]] == [*LOCAL_MODELS, smollm2.name]
    text = runner.invoke(app, ["list"])
    assert text.exit_code == 0, text.output
    assert "smollm2-135m  (installed)  [local]" in text.stdout
    assert (
        "chat format:" in text.stdout
        and "use: generator: {name: llama-cpp, model: gemma3-270m}" in text.stdout
    )


def test_a_gguf_given_and_configured_is_one_entry(tmp_path: Path, smollm2: Path) -> None:
    root = project_with(tmp_path, {"name": "llama-cpp", "model_path": str(smollm2)})
    entries = [e for e in catalog_entries(project=root, gguf=[smollm2]) if e.kind == "gguf"]
    assert [(e.name, e.used_in) for e in entries] == [(smollm2.name, ("config",))]
