"""`generator.adapter` in configs: resolved against the project folder like every model path, and a
search dimension of the optimizer (a list of adapters is a list of candidates)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmpilot.config import GeneratorConfig, parse_config
from llmpilot.errors import ModelNotAvailableError
from llmpilot.generation.hf import base_and_adapter
from llmpilot.optimization.space import SearchSpace
from llmpilot.project import resolve_generator_paths


def test_adapter_and_local_model_paths_resolve_against_the_project(tmp_path: Path) -> None:
    (tmp_path / "merged").mkdir()
    cfg = GeneratorConfig(name="transformers", adapter="adapters/house", model="merged")
    resolved = resolve_generator_paths(cfg, tmp_path)
    assert resolved.adapter == str(tmp_path / "adapters/house")
    assert resolved.model == str(tmp_path / "merged")
    catalog = resolve_generator_paths(GeneratorConfig(name="transformers", model="smollm2-135m"), tmp_path)
    assert catalog.model == "smollm2-135m"  # a catalog name, not a path


def test_adapters_are_a_search_dimension() -> None:
    space = SearchSpace.from_dict(
        {"generator": {"name": "transformers", "adapter": [None, "adapters/a", "adapters/b"]}}
    )
    assert space.size() == 3
    assert [c.params["generator.adapter"] for c in space.candidates()] == [None, "adapters/a", "adapters/b"]


def test_an_adapter_folder_names_its_base(tmp_path: Path) -> None:
    folder = tmp_path / "house"
    folder.mkdir()
    (folder / "adapter_config.json").write_text("{}", encoding="utf-8")
    (folder / "llmpilot-adapter.json").write_text('{"base": "smollm2-135m", "method": "lora"}', "utf-8")
    assert base_and_adapter(GeneratorConfig(name="transformers", adapter=str(folder))) == (
        "smollm2-135m",
        folder,
    )
    # an explicit base wins (a merged copy of the same weights, say)
    explicit = GeneratorConfig(name="transformers", adapter=str(folder), model="gemma3-270m")
    assert base_and_adapter(explicit)[0] == "gemma3-270m"


@pytest.mark.parametrize(
    ("files", "message"),
    [({}, "not an adapter folder"), ({"adapter_config.json": "{}"}, "give the base model explicitly")],
)
def test_a_folder_that_is_not_an_adapter_is_a_clear_error(
    tmp_path: Path, files: dict[str, str], message: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(ModelNotAvailableError, match=message):
        base_and_adapter(GeneratorConfig(name="transformers", adapter=str(tmp_path)))


def test_a_missing_adapter_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelNotAvailableError, match="is not a folder"):
        base_and_adapter(GeneratorConfig(name="transformers", adapter=str(tmp_path / "nope")))


def test_the_generator_section_accepts_transformers_with_an_adapter() -> None:
    cfg = parse_config({"generator": {"name": "transformers", "adapter": "adapters/house"}})
    assert cfg.generator.name == "transformers" and cfg.generator.adapter == "adapters/house"
