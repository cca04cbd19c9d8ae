"""Schemathesis against the served OpenAPI spec: no input makes the API fail with a 500.

Driven through schemathesis' Python API (one Hypothesis run per operation), with a
bounded number of generated requests per operation so the run stays short.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from tests.web.conftest import Site

EXAMPLES = 10


def test_api_never_fails_with_500(site: Site) -> None:
    schema = schemathesis.openapi.from_url(site.url + "/api/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 11
    checks = [not_a_server_error, status_code_conformance, response_schema_conformance]
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=site.url, checks=checks, timeout=30)

        run()
