"""Schemathesis against the app's own OpenAPI schema: whatever a client sends, valid or not, no 5xx, and
every answer matches the schema (status codes, content types, bodies)."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation.modes import GenerationMode

from mlops_workbook.cd.serving.app import create_app


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_the_api_honours_its_schema(trained, mode):
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(trained.folder))

    @given(case=schema.as_strategy(mode))
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    def honours(case):
        case.call_and_validate()

    honours()
