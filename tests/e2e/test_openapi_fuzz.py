"""schemathesis fuzzes the example service from its own OpenAPI document.

Every generated request, valid or not, must get an answer that is not a 5xx
and that conforms to the documented response schema. Requests carry an
administrator's token, so that they reach every route's handler rather than
stopping at the access rules.
"""

import sys
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from litestar.testing import TestClient
from schemathesis.checks import not_a_server_error, response_schema_conformance

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "taskboard"))

from taskboard.app import build_app

from hexkernel.interfaces.config import load_settings

ADMIN = {"email": "admin@example.org", "password": "admin-password-1"}

app = build_app(
    load_settings(
        config_file=Path(__file__).with_name("fuzz_cfg.yml"),
        environ={"HEXKERNEL_AUTH__ADMIN__PASSWORD": ADMIN["password"]},
    )
)
schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app)


_TOKEN: list[str] = []


def admin_headers():
    """An administrator's bearer token, fetched on first use.

    By then the app's lifespan (which schemathesis runs) has created the
    administrator; this client does not run the lifespan a second time.
    """
    if not _TOKEN:
        response = TestClient(app).post(
            "/auth/token",
            data={
                "grant_type": "password",
                "username": ADMIN["email"],
                "password": ADMIN["password"],
                "client_id": "web",
            },
        )
        assert response.status_code == 200, response.text
        _TOKEN.append(response.json()["access_token"])
    return {"Authorization": f"Bearer {_TOKEN[0]}"}


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_documented_responses(case):
    case.call_and_validate(
        headers=admin_headers(), checks=[not_a_server_error, response_schema_conformance]
    )
