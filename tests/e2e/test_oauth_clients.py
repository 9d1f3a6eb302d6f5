"""Real clients against a running service: Authlib's async OAuth2 client, pyjwt's PyJWKClient.

Also resource-server mode end to end: a second service trusts the first one's
tokens through its JWKS URL.
"""

import asyncio
import warnings

import jwt
import pytest
from hk_testing.security import (
    AUDIENCE,
    CLIENT_SECRETS,
    ISSUER,
    build_security_app,
    forge,
    make_key_files,
    security_settings,
    serve,
)

pytestmark = pytest.mark.anyio

PASSWORD = "a long passphrase"


import authlib.deprecate  # noqa: E402, F401 - installs Authlib's own warning filter first

with warnings.catch_warnings():
    # Authlib announces that it prefers the httpx2 fork; plain httpx still works.
    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.integrations.base_client import OAuthError
    from authlib.integrations.httpx_client import AsyncOAuth2Client


def oauth2_client(**options):
    return AsyncOAuth2Client(**options)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return make_key_files(tmp_path_factory.mktemp("keys"))


@pytest.fixture
async def site(keys):
    built = build_security_app(security_settings(keys))
    async with serve(built.app) as http:
        yield http


async def test_authlib_client_credentials(site):
    base = str(site.base_url).rstrip("/")
    async with oauth2_client(
        client_id="svc", client_secret=CLIENT_SECRETS["svc"], scope="tasks:read"
    ) as client:
        token = await client.fetch_token(f"{base}/auth/token", grant_type="client_credentials")
        assert token["token_type"] == "Bearer"
        assert token["scope"] == "tasks:read"
        assert "refresh_token" not in token
        me = await client.get(f"{base}/me")  # Authlib adds the bearer token itself
        assert me.status_code == 200, me.text
        assert me.json()["subject"] == "svc"
        assert me.json()["scopes"] == ["tasks:read"]


async def test_authlib_password_grant_then_refresh(site):
    base = str(site.base_url).rstrip("/")
    created = await site.post(
        "/users", json={"email": "carol@example.org", "name": "Carol", "password": PASSWORD}
    )
    assert created.status_code == 201
    async with oauth2_client(client_id="web", client_secret=CLIENT_SECRETS["web"]) as client:
        token = await client.fetch_token(
            f"{base}/auth/token", username="Carol@Example.org", password=PASSWORD
        )
        assert token["refresh_token"]
        me = await client.get(f"{base}/me")
        assert me.json()["subject"] == created.json()["id"]
        renewed = await client.refresh_token(f"{base}/auth/token")
        assert renewed["access_token"] != token["access_token"]
        assert renewed["refresh_token"] != token["refresh_token"]
        assert (await client.get(f"{base}/me")).status_code == 200


async def test_authlib_sees_rfc_6749_errors(site):
    base = str(site.base_url).rstrip("/")
    async with oauth2_client(client_id="web", client_secret=CLIENT_SECRETS["web"]) as client:
        with pytest.raises(OAuthError) as caught:
            await client.fetch_token(
                f"{base}/auth/token", username="nobody@example.org", password="wrong password"
            )
    assert caught.value.error == "invalid_grant"


async def test_a_public_client_logs_in_without_a_secret(site):
    base = str(site.base_url).rstrip("/")
    await site.post(
        "/users", json={"email": "dan@example.org", "name": "Dan", "password": PASSWORD}
    )
    async with oauth2_client(client_id="spa", token_endpoint_auth_method="none") as client:
        token = await client.fetch_token(
            f"{base}/auth/token", username="dan@example.org", password=PASSWORD
        )
    assert token["scope"] == "tasks:read"


async def test_pyjwkclient_verifies_an_issued_token(site):
    issued = await site.post(
        "/auth/token",
        data={"grant_type": "client_credentials"},
        auth=("svc", CLIENT_SECRETS["svc"]),
    )
    token = issued.json()["access_token"]
    jwks = jwt.PyJWKClient(f"{site.base_url}/.well-known/jwks.json")
    # PyJWKClient is synchronous: run it off the loop that serves the app.
    signing_key = await asyncio.to_thread(jwks.get_signing_key_from_jwt, token)
    assert signing_key.key_id == "k1"
    claims = jwt.decode(
        token,
        signing_key.key,
        algorithms=["RS256"],
        audience=AUDIENCE,
        issuer=ISSUER,
        options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]},
    )
    assert claims["sub"] == "svc"
    assert claims["roles"] == ["service"]
    assert claims["scope"] == "tasks:read tasks:write"
    assert claims["client_id"] == "svc"


async def test_a_resource_server_trusts_the_issuer_by_its_jwks_url(site, keys):
    jwks_url = f"{site.base_url}/.well-known/jwks.json"
    resource = build_security_app(
        security_settings(keys, mode="resource_server", jwks_url=jwks_url, clients={}),
        users=False,
    )
    async with serve(resource.app) as api:
        issued = await site.post(
            "/auth/token",
            data={"grant_type": "client_credentials", "scope": "tasks:read"},
            auth=("svc", CLIENT_SECRETS["svc"]),
        )
        token = issued.json()["access_token"]
        me = await api.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200, me.text
        assert me.json() == {
            "subject": "svc",
            "roles": ["service"],
            "scopes": ["tasks:read"],
            "client_id": "svc",
        }
        wrong_audience = forge(keys.keys["k1"], aud="someone-else")
        refused = await api.get("/me", headers={"Authorization": f"Bearer {wrong_audience}"})
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == 'Bearer error="invalid_token"'
        unknown = forge(keys.keys["k1"], kid="k-unknown")
        refused = await api.get("/me", headers={"Authorization": f"Bearer {unknown}"})
        assert refused.status_code == 401
        # A resource server issues nothing.
        assert (await api.post("/auth/token", data={"grant_type": "password"})).status_code in (
            404,
            405,
        )
        assert (await api.get("/.well-known/jwks.json")).status_code == 404


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
async def test_secrets_with_reserved_characters_work_from_authlib_and_raw_basic(site, method):
    base = str(site.base_url).rstrip("/")
    async with oauth2_client(
        client_id="odd", client_secret=CLIENT_SECRETS["odd"], token_endpoint_auth_method=method
    ) as client:
        token = await client.fetch_token(f"{base}/auth/token", grant_type="client_credentials")
    assert token["access_token"]
    raw = await site.post(
        "/auth/token",
        data={"grant_type": "client_credentials"},
        auth=("odd", CLIENT_SECRETS["odd"]),
    )
    assert raw.status_code == 200, raw.text
