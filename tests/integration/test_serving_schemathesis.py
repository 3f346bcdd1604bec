"""Property-based fuzzing of the HTTP API from its own OpenAPI spec (schemathesis, in process): no 5xx,
documented status codes and content types, responses that match their schemas.

A fake generator keeps it fast; the example count per operation is bounded so this runs in seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from llmpilot.serving.state import ServeSettings
from llmpilot.store.serving import ServingStore
from tests.fixtures.serving import FakeGenerator, keyword_project, make_app

MAX_EXAMPLES = 15
KEYS: dict[str, str] = {}


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Any:
    project = keyword_project(Path(tmp_path_factory.mktemp("fuzz")))
    KEYS["admin"] = ServingStore(project.store).create_key("acme", "admin")[1]
    app = make_app(project, FakeGenerator(), ServeSettings(rate_limit_per_min=0))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


# Driven by hand rather than through schemathesis' pytest plugin, which does not load under this
# pytest version ('Function' object has no attribute '_nodeid').
def test_every_operation_conforms_to_the_spec(api_schema: Any) -> None:
    headers = {"Authorization": f"Bearer {KEYS['admin']}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            case.call_and_validate(headers=headers)

        check()
