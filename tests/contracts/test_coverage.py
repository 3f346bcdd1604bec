"""Every built-in component registered in llmpilot.registry runs its contract suite: adding a
built-in without contract coverage fails here."""

from __future__ import annotations

from types import ModuleType

import pytest

from llmpilot import registry
from llmpilot.testing import CONTRACT_SUITES
from tests.contracts import (
    test_chunker_contract,
    test_embedder_contract,
    test_generator_contract,
    test_keyword_index_contract,
    test_pgvector_contract,
    test_vector_index_contract,
)

MODULES: dict[str, ModuleType] = {
    "chunkers": test_chunker_contract,
    "embedders": test_embedder_contract,
    "tokenizers": test_keyword_index_contract,
    "vector_indexes": test_vector_index_contract,
    "generators": test_generator_contract,
}
#: Built-ins whose contract runs in a module of its own (pgvector needs a database server).
MORE_MODULES: dict[str, list[ModuleType]] = {"vector_indexes": [test_pgvector_contract]}


def test_every_registry_has_a_suite_and_a_module() -> None:
    kinds = {name for name, value in vars(registry).items() if isinstance(value, registry.Registry)}
    assert kinds == set(CONTRACT_SUITES) == set(MODULES)


@pytest.mark.parametrize("kind", sorted(CONTRACT_SUITES))
def test_every_builtin_runs_its_contract_suite(kind: str) -> None:
    module = MODULES[kind]
    suite = CONTRACT_SUITES[kind]
    covered: set[str] = set()
    for mod in [module, *MORE_MODULES.get(kind, [])]:
        runners = [
            v for v in vars(mod).values() if isinstance(v, type) and issubclass(v, suite) and v is not suite
        ]
        assert runners, f"{mod.__name__} has no test class subclassing {suite.__name__}"
        unknown = set(mod.COVERED) - set(getattr(registry, kind).names())
        assert not unknown, f"{mod.__name__} covers names nobody registers: {sorted(unknown)}"
        covered |= set(mod.COVERED)
    builtins = set(getattr(registry, kind).builtin_names())
    assert builtins, f"no built-in {kind} registered"
    missing = builtins - covered
    assert not missing, (
        f"built-in {kind} without contract coverage: {sorted(missing)}; add them to {module.__name__}"
    )


def test_builtin_names_exclude_components_registered_outside_llmpilot() -> None:
    @registry.tokenizers.register("test-coverage-probe")
    def _probe() -> object:
        return lambda texts: [t.split() for t in texts]

    try:
        assert "test-coverage-probe" in registry.tokenizers.names()
        assert "test-coverage-probe" not in registry.tokenizers.builtin_names()
    finally:
        registry.tokenizers._factories.pop("test-coverage-probe")
