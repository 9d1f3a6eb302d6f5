"""No password, hash, secret, key or token in any log line or response body of a full run.

The run goes through sign-up, every grant, refresh rotation and reuse, failed
logins, forged tokens and a deleted user, with every logger (the service's,
Litestar's, uvicorn's, httpx's) at DEBUG; then the captured records and every
response body are searched.
"""

import base64
import logging

import pytest
from hk_testing.models import User
from hk_testing.security import (
    CLIENT_SECRETS,
    build_security_app,
    forge,
    make_key_files,
    security_settings,
    serve,
)

pytestmark = pytest.mark.anyio

PASSWORD = "Sup3r secret passphrase"
WRONG = "wr0ng-guess-of-a-password"


async def test_a_full_run_leaks_nothing(tmp_path, caplog):
    keys = make_key_files(tmp_path)
    caplog.set_level(logging.DEBUG)
    built = build_security_app(security_settings(keys))
    # Litestar's default logging configuration replaces the root handlers: capture again.
    root = logging.getLogger()
    if caplog.handler not in root.handlers:
        root.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG)
    bodies: list[str] = []
    secrets_seen: list[str] = [PASSWORD, WRONG, *CLIENT_SECRETS.values()]

    async with serve(built.app, log_level="debug", log_config=None) as http:

        async def call(method, url, **options):
            response = await http.request(method, url, **options)
            bodies.append(response.text)
            return response

        created = await call(
            "POST", "/users", json={"email": "eve@example.org", "name": "Eve", "password": PASSWORD}
        )
        user = created.json()["id"]
        stored = await built.service.repositories[User].get(user)
        secrets_seen.append(stored.password)  # the argon2 hash
        web = ("web", CLIENT_SECRETS["web"])
        login = await call(
            "POST",
            "/auth/token",
            data={"grant_type": "password", "username": "eve@example.org", "password": PASSWORD},
            auth=web,
        )
        tokens = login.json()
        await call(
            "POST",
            "/auth/token",
            data={"grant_type": "password", "username": "eve@example.org", "password": WRONG},
            auth=web,
        )
        await call(
            "POST",
            "/auth/token",
            data={"grant_type": "client_credentials"},
            auth=("svc", WRONG),
        )
        service = await call(
            "POST",
            "/auth/token",
            data={"grant_type": "client_credentials"},
            auth=("svc", CLIENT_SECRETS["svc"]),
        )
        rotated = await call(
            "POST",
            "/auth/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            auth=web,
        )
        await call(
            "POST",
            "/auth/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            auth=web,
        )
        forged = [
            forge(keys.stranger, subject=user),
            forge(None, algorithm="none", subject=user),
            forge(keys.keys["k1"], kid="nope", subject=user),
        ]
        issued = [
            tokens["access_token"],
            tokens["refresh_token"],
            service.json()["access_token"],
            rotated.json()["access_token"],
            rotated.json()["refresh_token"],
        ]
        for token in [*issued[:1], *forged]:
            await call("GET", "/me", headers={"Authorization": f"Bearer {token}"})
        bearer = {"Authorization": f"Bearer {rotated.json()['access_token']}"}
        await call("POST", "/tasks", json={"title": "Audit"}, headers=bearer)
        await call("GET", "/tasks", headers=bearer)
        await call("GET", f"/users/{user}", headers=bearer)
        await call("DELETE", f"/users/{user}", headers=bearer)
        await call("GET", "/me", headers=bearer)
        await call("GET", "/.well-known/jwks.json")
        await call("GET", "/schema/openapi.json")

    log_text = "\n".join(
        f"{r.name} {r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records
    )
    # The run was logged, start-up settings included.
    assert '"POST /auth/token HTTP/1.1" 200' in log_text
    assert "starting hexkernel with settings" in log_text
    assert len(caplog.records) > 40
    basic = base64.b64encode(f"web:{CLIENT_SECRETS['web']}".encode()).decode()
    needles = [*secrets_seen, *issued, *forged, basic, "$argon2", *keys.pem_texts()]
    needles += [line for pem in keys.pem_texts() for line in pem.splitlines()[1:-1]]
    for needle in needles:
        assert needle not in log_text, f"a secret reached the log: {needle[:12]}..."
    response_text = "\n".join(bodies[:1] + bodies[2:])  # bodies[1] is the token response itself
    for needle in [*secrets_seen, "$argon2", *keys.pem_texts()]:
        assert needle not in response_text
    assert "password" not in bodies[0]
    assert tokens["access_token"] in bodies[1]  # the needles are the real values
