"""Schemathesis against the OpenAPI a real server publishes: generated and mutated requests
for every operation never get a 5xx, and every answer matches its documented schema.

Bounded: a few examples per operation (derandomized, no example database), so the whole
module takes seconds once the server is up.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from serving_support import package_iris, sous_home

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 25
PREDICT_TOKEN = "fuzz-predict-token"
ADMIN_TOKEN = "fuzz-admin-token"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from engine.serving import BentoServer, Experiment, package_experiment

    env = {"SOUS_FUZZ_TOKEN": PREDICT_TOKEN, "SOUS_FUZZ_TOKEN_ADMIN": ADMIN_TOKEN}
    with sous_home(tmp_path_factory.mktemp("sous"), **env):
        _, v1 = package_iris(c=1.0, auth_token_env="SOUS_FUZZ_TOKEN", log_requests=True)
        _, v2 = package_iris(c=0.01, auth_token_env="SOUS_FUZZ_TOKEN")
        exp = package_experiment("iris", Experiment(v1.version, v2.version, share=0.5))
        with BentoServer(exp.bento_tag) as server:
            yield {"url": server.url}


def _operations(url: str) -> list[Any]:
    import schemathesis

    schema = schemathesis.openapi.from_url(url + "/docs.json")
    return [op.ok() for op in schema.get_all_operations()]


@pytest.mark.parametrize("token", [ADMIN_TOKEN, None], ids=["admin", "anonymous"])
def test_no_5xx_and_every_answer_matches_its_schema(
    served: dict[str, Any], token: str | None
) -> None:
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    url = served["url"]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    operations = _operations(url)
    paths = {op.path for op in operations}
    assert {"/predict", "/predict_batch", "/admin/routing"} <= paths, paths
    for op in operations:

        @given(case=op.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: Any) -> None:
            case.call_and_validate(
                base_url=url,
                headers=headers,
                checks=[not_a_server_error, response_schema_conformance],
                timeout=30,
            )

        fuzz()
