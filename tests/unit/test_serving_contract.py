"""Schemathesis against the app's own OpenAPI schema: whatever a client sends, valid or not, no 5xx, and
every answer matches the schema (status codes, content types, bodies)."""

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import settings
from schemathesis.generation.modes import GenerationMode

from mlops_workbook import bundle, data
from mlops_workbook.cd.app import create_app
from mlops_workbook.ci import conversion
from mlops_workbook.ct import features, training


def app_with_a_model():
    model = training.train(features.build(data.production_batch(500, seed=8)), seed=8)
    facts = bundle.Facts("ride-completion", "1", "champion", "run", list(model.feature_names_in_))
    with tempfile.TemporaryDirectory() as folder:
        return create_app(
            bundle.save(conversion.to_onnx(model), facts, Path(folder))
        )  # loaded at start: the folder can go


schema = schemathesis.openapi.from_asgi("/openapi.json", app_with_a_model())
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])  # bad input too


@schema.parametrize()
@settings(max_examples=60, deadline=None)
def test_the_api_honours_its_schema(case):
    case.call_and_validate()
