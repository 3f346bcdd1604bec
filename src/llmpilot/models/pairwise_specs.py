"""Model specs as a user writes them on the command line (`--models A,B`, `--judge J`) mapped to a
`generator:` config section, so every candidate and the judge are built by `llmpilot.factory.generator`
like any pipeline's generator.

Forms: a catalog name (`smollm2-135m`: llama-cpp), a `*.gguf` path (llama-cpp), `extractive` (or any
other registered generator name, with its defaults), `openai:MODEL@URL` (an OpenAI-compatible server),
or a YAML file holding a `generator:` section (a pipeline config works; its paths are relative to it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from llmpilot import registry
from llmpilot.config import GeneratorConfig, parse_config, read_yaml_mapping
from llmpilot.errors import ConfigError, ModelNotAvailableError
from llmpilot.generation.models import LOCAL_MODELS
from llmpilot.project import resolve_generator_paths

FORMS = (
    "a catalog model (" + ", ".join(LOCAL_MODELS) + "), a .gguf file, `extractive`, `openai:MODEL@URL`, "
    "or a YAML file with a `generator:` section"
)


@dataclass(frozen=True)
class ModelSpec:
    """What the user wrote (the label in results) and the generator config it stands for."""

    label: str
    config: GeneratorConfig


def _with(base: GeneratorConfig, **fields: object) -> GeneratorConfig:
    """`base`'s sampling and context settings, with the model fields replaced (the others reset)."""
    cleared = {"model_path": None, "model": None, "base_url": None, "api_key_env": None, "adapter": None}
    return base.model_copy(update={**cleared, **fields})


def parse_spec(spec: str, base: GeneratorConfig | None = None, *, what: str = "--models") -> ModelSpec:
    """`spec` as a generator config. `base` (the project's generator, or the defaults) gives the
    settings a bare model name does not (max_tokens, temperature, n_ctx, …); a YAML spec is used as
    written."""
    text = spec.strip()
    if not text:
        raise ConfigError(f"{what}: an empty model spec; use {FORMS}")
    base = base or GeneratorConfig()
    lowered = text.lower()
    if lowered.endswith((".yaml", ".yml")):
        return ModelSpec(text, _from_yaml(Path(text), what))
    if lowered.endswith(".gguf"):
        path = Path(text).expanduser().resolve()
        if not path.is_file():
            raise ModelNotAvailableError(f"{what}: {text}: no such GGUF file; check the path")
        return ModelSpec(text, _with(base, name="llama-cpp", model_path=str(path)))
    if lowered.startswith("openai:"):
        model, at, url = text[len("openai:") :].partition("@")
        if not (model and at and url):
            raise ConfigError(
                f"{what}: {text!r}: write an OpenAI-compatible endpoint as openai:MODEL@URL, "
                "e.g. openai:qwen2.5@http://localhost:8080/v1"
            )
        return ModelSpec(text, _with(base, name="openai", model=model, base_url=url))
    if text in LOCAL_MODELS:
        return ModelSpec(text, _with(base, name="llama-cpp", model=text))
    if text in registry.generators.names():
        return ModelSpec(text, _with(base, name=text))
    raise ConfigError(f"{what}: {text!r} is not a model spec; use {FORMS}")


def _from_yaml(path: Path, what: str) -> GeneratorConfig:
    raw = read_yaml_mapping(path, f"{what}: file not found")
    section = raw.get("generator")
    if not isinstance(section, dict):
        raise ConfigError(
            f"{path}: no `generator:` section; {what} takes a YAML file holding one "
            "(e.g. `generator: {name: llama-cpp, model: smollm2-135m}`)"
        )
    cfg = parse_config({"generator": section}, source=str(path)).generator
    # Paths in the file are relative to its folder, as in a project's llmpilot.yaml.
    return resolve_generator_paths(cfg, path.resolve().parent)


def split_models(models: str) -> tuple[str, str]:
    """`--models A,B` as two specs (a YAML or GGUF path may not hold a comma)."""
    parts = [p.strip() for p in models.split(",")]
    if len(parts) != 2 or not all(parts):
        raise ConfigError(f"--models {models!r}: name exactly two models, A,B; each is {FORMS}")
    if parts[0] == parts[1]:
        raise ConfigError(f"--models {models!r}: the two models are the same; name two different ones")
    return parts[0], parts[1]
