"""schemathesis over the whole OpenAPI schema (a bounded number of examples per operation,
derandomized so CI is repeatable): no answer is a 5xx, every answer matches the schema, and
every 4xx is Kassa's error envelope. KASSA_SCHEMATHESIS_EXAMPLES raises the bound for a
longer local run; the figures are printed (pytest -s)."""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from api.helpers import shared_app
from kassa.config import Kassa
from kassa.services.organizations import NewOrganization

EXAMPLES = int(os.environ.get("KASSA_SCHEMATHESIS_EXAMPLES", "6"))


def test_every_operation_answers_cleanly(kassa: Kassa, org: NewOrganization) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", shared_app(kassa))
    headers = {"Authorization": f"Bearer {org.secret_key}"}
    calls: dict[str, int] = {}
    for found in schema.get_all_operations():
        operation = found.ok()
        label = f"{operation.method.upper()} {operation.path}"
        calls[label] = 0
        _fuzz(operation, label, headers, calls)
    print(f"schemathesis: {len(calls)} operations, {sum(calls.values())} requests, "
          "no failures")
    assert len(calls) > 100 and all(calls.values())


def _fuzz(operation: Any, label: str, headers: dict[str, str], calls: dict[str, int]) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def call(case: Any) -> None:
        response = case.call(headers=headers)
        calls[label] += 1
        case.validate_response(response, checks=[not_a_server_error,
                                                 response_schema_conformance])
        if 400 <= response.status_code < 500:
            error = response.json()["error"]
            assert set(error) == {"type", "code", "message", "param"}, (label, response.text)

    call()
