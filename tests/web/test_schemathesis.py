"""Property-based fuzzing of the whole JSON API from its OpenAPI schema: no input makes a 500.

Schemathesis generates requests (valid and invalid) for every operation, sent with an admin's
bearer token so they reach the handlers; the check is that the server never answers 5xx.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from veille.testing import FakeClock

from .conftest import Env, make_env, sample_posts

pytestmark = pytest.mark.slow


@pytest.fixture
def api_env(tmp_path: Path) -> Iterator[Env]:
    env = make_env(tmp_path, FakeClock())
    env.write(sample_posts(env.clock))
    yield env
    env.store.close()


def test_no_input_makes_a_server_error(api_env: Env) -> None:
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", api_env.app)
    headers = {"Authorization": f"Bearer {api_env.tokens['admin']}"}
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) == ("DELETE", "/api/me/tokens/{token_id}"):
            continue  # revoking the test's own token would turn the rest into 401s
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case: schemathesis.Case) -> None:
            response = case.call(headers=headers)
            case.validate_response(response, checks=[not_a_server_error])

        try:
            check()
        except Exception as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:2000])
    assert operations > 25
    assert failures == []
