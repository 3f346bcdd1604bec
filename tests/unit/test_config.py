from pathlib import Path

import pytest
import yaml

from llmpilot.config import PipelineConfig, load_config, parse_config
from llmpilot.errors import ConfigError
from llmpilot.project import CONFIG_TEMPLATE


def test_init_template_parses_to_the_defaults() -> None:
    assert parse_config(yaml.safe_load(CONFIG_TEMPLATE)) == PipelineConfig()


def test_template_documents_every_default_value() -> None:
    # Every top-level and nested key of the model appears in the commented template.
    raw = yaml.safe_load(CONFIG_TEMPLATE)

    def keys(d: dict, prefix: str = "") -> set[str]:
        out = set()
        for k, v in d.items():
            out.add(prefix + k)
            if isinstance(v, dict):
                out |= keys(v, prefix + k + ".")
        return out

    assert keys(raw) == keys(PipelineConfig().model_dump(mode="json"))


def test_yaml_round_trip_and_stable_hash() -> None:
    cfg = parse_config({"chunking": {"method": "sentence", "size": 400, "overlap": 50}})
    again = parse_config(yaml.safe_load(cfg.to_yaml()))
    assert again == cfg
    assert again.hash() == cfg.hash()
    assert cfg.hash() != PipelineConfig().hash()


def test_partial_hashes_separate_stages() -> None:
    base = PipelineConfig()
    other_retrieval = parse_config({"retrieval": {"top_k": 9}})
    other_chunking = parse_config({"chunking": {"size": 300}})
    assert other_retrieval.chunks_hash() == base.chunks_hash()
    assert other_retrieval.index_hash() == base.index_hash()
    assert other_chunking.chunks_hash() != base.chunks_hash()
    assert other_chunking.transforms_hash() == base.transforms_hash()


def test_unknown_key_is_named() -> None:
    with pytest.raises(ConfigError, match=r"chunking\.sise"):
        parse_config({"chunking": {"sise": 10}})


def test_overlap_must_be_below_size() -> None:
    with pytest.raises(ConfigError, match="overlap"):
        parse_config({"chunking": {"size": 100, "overlap": 100}})


def test_load_config_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("retrieval: [unclosed", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.yaml"):
        load_config(bad)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("retrieval:\n  mode: telepathy\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"retrieval\.mode"):
        load_config(wrong)


def test_example_configs_are_valid() -> None:
    root = Path(__file__).resolve().parents[2] / "examples"
    files = sorted(p for p in root.glob("*.yaml") if not p.name.startswith("space-"))
    assert files, "examples/*.yaml missing"
    for path in files:
        load_config(path)
