"""Schema-driven fuzzing (schemathesis) of every operation in our OpenAPI schema: no input may cause a 5xx,
and responses must match the schema. Bounded and deterministic: a few examples per operation, fixed seed.

Admin calls carry the token, so their bodies are fuzzed past authentication (auth itself: test_admin.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from app.main import create_app
from tests.app.conftest import AUTH, Artifacts, make_settings


@pytest.fixture(scope="module")
def fuzzed_app(artifacts: Artifacts, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from app.db.migrate import upgrade

    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}"
    upgrade(url)
    app = create_app(make_settings(artifacts, url))
    with TestClient(app):  # runs the lifespan (index loaded) for the whole module
        yield app


@pytest.fixture(scope="module")
def api_schema(fuzzed_app: object) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzzed_app)


def operations() -> list[tuple[str, str, schemathesis.GenerationMode]]:
    """(method, path, mode) of every operation, from the schema of an app that is not started; inputs that
    violate the schema (negative mode) exist only for operations that take parameters or a body."""
    spec = create_app().openapi()
    out = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            out.append((method.upper(), path, schemathesis.GenerationMode.POSITIVE))
            if op.get("parameters") or op.get("requestBody"):
                out.append((method.upper(), path, schemathesis.GenerationMode.NEGATIVE))
    return out


CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.mark.parametrize(("method", "path", "mode"), operations())
def test_api_never_answers_5xx(
    api_schema: schemathesis.BaseSchema, method: str, path: str, mode: schemathesis.GenerationMode
) -> None:
    """Valid inputs (positive) and inputs violating the schema (negative)."""
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=15,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=AUTH, checks=CHECKS)

    fuzz()
