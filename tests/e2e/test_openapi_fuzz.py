"""schemathesis fuzzes the example service from its own OpenAPI document.

Every generated request, valid or not, must get an answer that is not a 5xx
and that conforms to the documented response schema.
"""

import asyncio
import sys
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "taskboard"))

from taskboard.app import app, service

schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app)


@pytest.fixture(scope="module", autouse=True)
def started_service():
    asyncio.run(service.startup())
    yield
    asyncio.run(service.shutdown())


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_documented_responses(case):
    case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])
