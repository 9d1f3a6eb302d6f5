"""The security battery over real HTTP: uvicorn on a free port, httpx, on both stores.

Every forged, expired, misaddressed or malformed credential is refused with
401 problem details and ``WWW-Authenticate: Bearer error="invalid_token"``;
a missing one is anonymous and refused only where a caller is needed. The
token endpoint rotates refresh tokens and revokes a family on reuse, and
speaks RFC 6749 and RFC 8414.
"""

import base64
import time
import uuid

import pytest
from hk_testing.security import (
    AUDIENCE,
    CLIENT_SECRETS,
    ISSUER,
    build_security_app,
    forge,
    hs256_with_public_key,
    make_key_files,
    security_settings,
    serve,
    tamper,
)

from hexkernel.adapters.mongo import connect
from hexkernel.interfaces.config import MongoSettings, Secret

pytestmark = pytest.mark.anyio

PASSWORD = "a long passphrase"
INVALID = 'Bearer error="invalid_token"'


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return make_key_files(tmp_path_factory.mktemp("keys"))


@pytest.fixture(params=["memory", pytest.param("mongo", marks=pytest.mark.integration)])
async def site(request, keys):
    mongo = None
    database = f"hk_auth_{uuid.uuid4().hex}"
    if request.param == "mongo":
        uri = request.getfixturevalue("mongo_uri")
        mongo = MongoSettings(uri=Secret(uri), database=database)
    built = build_security_app(security_settings(keys, mongo=mongo))
    async with serve(built.app) as http:
        yield Site(http, keys)
    if mongo is not None:
        client = connect(uri)
        try:
            await client.drop_database(database)
        finally:
            await client.close()


class Site:
    def __init__(self, http, keys):
        self.http = http
        self.keys = keys

    async def sign_up(self, email=None):
        email = email or f"{uuid.uuid4().hex[:8]}@example.org"
        response = await self.http.post(
            "/users", json={"email": email, "name": "Someone", "password": PASSWORD}
        )
        assert response.status_code == 201, response.text
        return response.json()["id"], email

    async def token(self, data, auth=("web", CLIENT_SECRETS["web"]), **options):
        return await self.http.post("/auth/token", data=data, auth=auth, **options)

    async def login(self, email):
        response = await self.token(
            {"grant_type": "password", "username": email, "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def me(self, token):
        return await self.http.get("/me", headers={"Authorization": f"Bearer {token}"})


def assert_invalid_token(response):
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == INVALID
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "unauthorized"
    assert body["status"] == 401
    return body


FORGERIES = {
    "alg none": lambda _, sub: forge(None, algorithm="none", subject=sub),
    "HS256 with the public key": lambda k, sub: hs256_with_public_key(
        k.keys["k1"].public_key(), sub=sub
    ),
    "expired": lambda k, sub: forge(k.keys["k1"], subject=sub, exp=int(time.time()) - 5),
    "nbf in the future": lambda k, sub: forge(
        k.keys["k1"], subject=sub, nbf=int(time.time()) + 3600
    ),
    "wrong iss": lambda k, sub: forge(k.keys["k1"], subject=sub, iss="https://evil.test"),
    "wrong aud": lambda k, sub: forge(k.keys["k1"], subject=sub, aud="another-service"),
    "unknown kid": lambda k, sub: forge(k.keys["k1"], subject=sub, kid="k404"),
    "bad signature": lambda k, sub: forge(k.stranger, subject=sub),
    "no kid": lambda k, sub: forge(k.keys["k1"], subject=sub, kid=None),
    "no exp": lambda k, sub: forge(k.keys["k1"], subject=sub, exp=None),
}


@pytest.mark.parametrize("name", FORGERIES)
async def test_forged_and_misaddressed_tokens_are_refused(site, name):
    user, _ = await site.sign_up()
    genuine = forge(site.keys.keys["k1"], subject=user)
    control = await site.me(genuine)
    assert control.status_code == 200, control.text  # the same claims, honestly signed
    assert control.json()["subject"] == user
    token = FORGERIES[name](site.keys, user)
    assert_invalid_token(await site.me(token))
    # Generated resources refuse it as well, whatever their own rules.
    assert_invalid_token(
        await site.http.get("/tasks", headers={"Authorization": f"Bearer {token}"})
    )


async def test_a_tampered_payload_is_refused(site):
    user, email = await site.sign_up()
    issued = await site.login(email)
    assert (await site.me(issued["access_token"])).status_code == 200
    forged = tamper(issued["access_token"], roles=["admin"])
    assert_invalid_token(await site.me(forged))
    assert_invalid_token(await site.me(tamper(issued["access_token"], sub="usr_someone_else")))
    assert user


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer =abc",
        "Basic dXNlcjpwYXNz",
        "Token abc.def.ghi",
        "Bearer two words",
        "Bearer not-a-jwt",
        "Bearer abc.def",
        "Bearer é.é.é",
    ],
)
async def test_malformed_authorization_headers_are_refused(site, header):
    response = await site.http.get("/me", headers={"Authorization": header.encode()})
    assert_invalid_token(response)


async def test_two_authorization_headers_are_refused(site):
    _, email = await site.sign_up()
    token = (await site.login(email))["access_token"]
    headers = [("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]
    assert_invalid_token(await site.http.get("/me", headers=headers))


async def test_a_missing_header_is_anonymous_and_refused_where_a_caller_is_needed(site):
    response = await site.http.get("/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["code"] == "unauthorized"
    assert (await site.http.get("/tasks")).status_code == 200  # no rule asks for a caller here


async def test_a_deleted_user_s_token_is_refused(site):
    user, email = await site.sign_up()
    token = (await site.login(email))["access_token"]
    assert (await site.me(token)).status_code == 200
    deleted = await site.http.delete(f"/users/{user}", headers={"Authorization": f"Bearer {token}"})
    assert deleted.status_code == 204, deleted.text
    body = assert_invalid_token(await site.me(token))
    assert "unknown_subject" in body["detail"]


async def test_the_bound_principal_owns_what_it_creates(site):
    user, email = await site.sign_up()
    issued = await site.login(email)
    headers = {"Authorization": f"Bearer {issued['access_token']}"}
    created = await site.http.post("/tasks", json={"title": "Mine"}, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["owner"] == user
    anonymous = await site.http.post("/tasks", json={"title": "Nobody's"})
    assert anonymous.json()["owner"] is None
    me = (await site.me(issued["access_token"])).json()
    assert me == {
        "subject": user,
        "roles": ["user"],
        "scopes": ["tasks:read", "tasks:write"],
        "client_id": "web",
    }


async def test_a_token_of_the_retired_key_still_verifies(site):
    user, _ = await site.sign_up()
    response = await site.me(forge(site.keys.keys["k2"], kid="k2", subject=user))
    assert response.status_code == 200, response.text


async def test_refresh_rotation_and_family_revocation(site):
    _, email = await site.sign_up()
    first = await site.login(email)
    rotated = await site.token(
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await site.me(second["access_token"])).status_code == 200
    third = (
        await site.token({"grant_type": "refresh_token", "refresh_token": second["refresh_token"]})
    ).json()
    # A thief replays the first refresh token: refused, and the family is revoked.
    replay = await site.token(
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    revoked = await site.token(
        {"grant_type": "refresh_token", "refresh_token": third["refresh_token"]}
    )
    assert revoked.status_code == 400
    assert revoked.json()["error"] == "invalid_grant"
    # Another login of the same user is a new family and unaffected.
    again = await site.login(email)
    fresh = await site.token(
        {"grant_type": "refresh_token", "refresh_token": again["refresh_token"]}
    )
    assert fresh.status_code == 200


async def test_successful_token_responses(site):
    _, email = await site.sign_up()
    response = await site.token({"grant_type": "password", "username": email, "password": PASSWORD})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    head = base64.urlsafe_b64decode(body["access_token"].split(".")[0] + "==")
    assert b'"kid":"k1"' in head.replace(b" ", b"")
    # No client at all: a public login, as a browser form would do it.
    public = await site.token(
        {"grant_type": "password", "username": email, "password": PASSWORD}, auth=None
    )
    assert public.status_code == 200, public.text
    assert (await site.me(public.json()["access_token"])).json()["client_id"] is None
    # Client credentials in the form instead of HTTP Basic.
    posted = await site.token(
        {
            "grant_type": "client_credentials",
            "client_id": "svc",
            "client_secret": CLIENT_SECRETS["svc"],
        },
        auth=None,
    )
    assert posted.status_code == 200, posted.text
    assert "refresh_token" not in posted.json()
    assert (await site.me(posted.json()["access_token"])).json()["roles"] == ["service"]


@pytest.mark.parametrize(
    ("data", "auth", "status", "error"),
    [
        (
            {"grant_type": "password", "username": "x@example.org", "password": "wrong"},
            ("web", CLIENT_SECRETS["web"]),
            400,
            "invalid_grant",
        ),
        ({"grant_type": "client_credentials"}, ("svc", "wrong"), 401, "invalid_client"),
        ({"grant_type": "client_credentials"}, ("nobody", "x"), 401, "invalid_client"),
        ({"grant_type": "client_credentials"}, None, 401, "invalid_client"),
        (
            {"grant_type": "client_credentials"},
            ("web", CLIENT_SECRETS["web"]),
            400,
            "unauthorized_client",
        ),
        ({"grant_type": "implicit"}, ("web", CLIENT_SECRETS["web"]), 400, "unsupported_grant_type"),
        ({"scope": "x"}, ("web", CLIENT_SECRETS["web"]), 400, "invalid_request"),
        (
            {"grant_type": "password", "username": "a"},
            ("web", CLIENT_SECRETS["web"]),
            400,
            "invalid_request",
        ),
        (
            {"grant_type": "client_credentials", "scope": "admin"},
            ("svc", CLIENT_SECRETS["svc"]),
            400,
            "invalid_scope",
        ),
        (
            {"grant_type": "refresh_token", "refresh_token": "nope"},
            ("web", CLIENT_SECRETS["web"]),
            400,
            "invalid_grant",
        ),
        (
            {"grant_type": "client_credentials", "client_secret": CLIENT_SECRETS["svc"]},
            ("svc", CLIENT_SECRETS["svc"]),
            400,
            "invalid_request",
        ),
    ],
)
async def test_token_errors_are_rfc_6749_bodies(site, data, auth, status, error):
    response = await site.http.post("/auth/token", data=data, auth=auth)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    assert isinstance(body["error_description"], str)
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Basic")


async def test_token_requests_must_be_form_encoded_with_single_parameters(site):
    as_json = await site.http.post(
        "/auth/token",
        json={"grant_type": "client_credentials"},
        auth=("svc", CLIENT_SECRETS["svc"]),
    )
    assert as_json.status_code == 400
    assert as_json.json()["error"] == "invalid_request"
    repeated = await site.http.post(
        "/auth/token",
        content="grant_type=client_credentials&grant_type=password",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=("svc", CLIENT_SECRETS["svc"]),
    )
    assert repeated.status_code == 400
    assert repeated.json()["error"] == "invalid_request"
    bad_basic = await site.http.post(
        "/auth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic !!!"},
    )
    assert bad_basic.status_code == 401
    assert bad_basic.json()["error"] == "invalid_client"


async def test_jwks_and_metadata(site):
    jwks = await site.http.get("/.well-known/jwks.json")
    assert jwks.status_code == 200
    assert [k["kid"] for k in jwks.json()["keys"]] == ["k1", "k2"]
    metadata = (await site.http.get("/.well-known/oauth-authorization-server")).json()
    base = str(site.http.base_url).rstrip("/")
    assert metadata["issuer"] == ISSUER
    assert metadata["token_endpoint"] == f"{base}/auth/token"
    assert metadata["jwks_uri"] == f"{base}/.well-known/jwks.json"
    assert metadata["grant_types_supported"] == ["client_credentials", "password", "refresh_token"]
    assert "client_secret_basic" in metadata["token_endpoint_auth_methods_supported"]
    # A bad Authorization header does not hide the public documents.
    assert (
        await site.http.get("/.well-known/jwks.json", headers={"Authorization": "x"})
    ).status_code == 200


async def test_openapi_documents_the_auth_routes(site):
    from openapi_spec_validator import validate

    document = (await site.http.get("/schema/openapi.json")).json()
    validate(document)
    token = document["paths"]["/auth/token"]["post"]
    assert set(token["responses"]) == {"200", "400", "401"}
    form = token["requestBody"]["content"]["application/x-www-form-urlencoded"]
    assert form["schema"]["$ref"] == "#/components/schemas/TokenRequest"
    assert "/.well-known/jwks.json" in document["paths"]
    assert "/.well-known/oauth-authorization-server" in document["paths"]
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An RS256 access token from POST /auth/token",
    }
    assert AUDIENCE not in str(document)
