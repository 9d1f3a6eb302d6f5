"""Real OAuth2 clients against the running taskboard example (uvicorn, a free port).

Authlib's async OAuth2 client obtains tokens with the ``client_credentials``
and ``password`` grants (the administrator created at start-up logs in with
their e-mail), and pyjwt's ``PyJWKClient`` verifies an issued token against
the JWKS the example publishes.
"""

import asyncio
import sys
import warnings
from pathlib import Path

import authlib.deprecate  # noqa: F401 - installs Authlib's own warning filter first
import jwt
import pytest
from hk_testing.models import FAST_HASHER
from hk_testing.security import make_key_files, serve

from hexkernel.interfaces.config import (
    AdminSettings,
    AuthSettings,
    ClientSettings,
    KeySettings,
    Secret,
    Settings,
)

with warnings.catch_warnings():
    # Authlib announces that it prefers the httpx2 fork; plain httpx still works.
    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "taskboard"))

from taskboard.app import build_app

pytestmark = pytest.mark.anyio

ADMIN_EMAIL = "admin@example.org"
ADMIN_PASSWORD = "an admin passphrase"
REPORTS_SECRET = "reports-secret-5e6f"
ISSUER = "https://taskboard.test"


@pytest.fixture
async def taskboard(tmp_path):
    keys = make_key_files(tmp_path)
    settings = Settings(
        service="taskboard",
        auth=AuthSettings(
            issuer=ISSUER,
            audience="taskboard",
            keys=[KeySettings(kid="k1", private_key_file=str(keys.paths["k1"]))],
            clients={
                "reports": ClientSettings(
                    secret_hash=Secret(FAST_HASHER.hash(REPORTS_SECRET)),
                    grants=["client_credentials"],
                    roles=["service"],
                ),
                "web": ClientSettings(grants=["password", "refresh_token"]),
            },
            admin=AdminSettings(email=ADMIN_EMAIL, password=Secret(ADMIN_PASSWORD)),
        ),
    )
    async with serve(build_app(settings)) as http:
        yield http


async def test_authlib_obtains_tokens_from_the_example(taskboard):
    base = str(taskboard.base_url).rstrip("/")
    async with AsyncOAuth2Client(client_id="reports", client_secret=REPORTS_SECRET) as client:
        service_token = await client.fetch_token(
            f"{base}/auth/token", grant_type="client_credentials"
        )
    assert service_token["token_type"] == "Bearer"
    assert "refresh_token" not in service_token
    async with AsyncOAuth2Client(client_id="web", token_endpoint_auth_method="none") as client:
        admin_token = await client.fetch_token(
            f"{base}/auth/token", username=ADMIN_EMAIL.upper(), password=ADMIN_PASSWORD
        )
        assert admin_token["refresh_token"]
        users = await client.get(f"{base}/users")  # an admin-only route
        assert users.status_code == 200, users.text
        assert [u["email"] for u in users.json()["_items"]] == [ADMIN_EMAIL]
    anonymous = await taskboard.get("/users")
    assert anonymous.status_code == 401


async def test_pyjwkclient_verifies_a_token_of_the_example(taskboard):
    response = await taskboard.post(
        "/auth/token",
        data={"grant_type": "password", "username": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    jwks = jwt.PyJWKClient(f"{taskboard.base_url}/.well-known/jwks.json")
    key = await asyncio.to_thread(jwks.get_signing_key_from_jwt, token)
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience="taskboard", issuer=ISSUER)
    assert "admin" in claims["roles"]
    assert claims["sub"].startswith("usr_")
