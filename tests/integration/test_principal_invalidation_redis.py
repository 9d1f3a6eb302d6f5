"""Evictions of cached users cross processes through Redis pub/sub.

Two processes of the taskboard example (``hexkernel run``) share one MongoDB
database and one Redis, with the principal cache at its default (60 s) and
``auth.principal_invalidation`` on the Redis: a user deleted or demoted
through one process is refused by the other at once, on the very next
request. A third process with the cache and no channel is the control: it
keeps serving what it cached until the time to live ends.

The channel itself is checked first, against the same Redis: every
subscriber hears every publication, the publisher included, and anything
malformed means "forget everything".
"""

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from hk_testing.security import make_key_files
from hk_testing.servers import free_port

from hexkernel.adapters.redis import RedisInvalidationChannel

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "taskboard"
HEXKERNEL = Path(sys.executable).with_name("hexkernel")
ADMIN = "admin@example.org"
ADMIN_PASSWORD = "admin-password-1"
PASSWORD = "ann-password-1"


# ------------------------------------------------------------------ the channel
@pytest.mark.anyio
async def test_every_subscriber_hears_every_eviction(redis_url, redis_prefix):
    channel = f"{redis_prefix}evictions"
    heard: dict[str, list[object]] = {"a": [], "b": []}
    complete = {"a": asyncio.Event(), "b": asyncio.Event()}

    def hearing(name):
        def evict(keys):
            heard[name].append(keys)
            if len(heard[name]) == 4:  # the connection and three messages
                complete[name].set()

        return evict

    a = RedisInvalidationChannel.from_url(redis_url, channel=channel)
    b = RedisInvalidationChannel.from_url(redis_url, channel=channel)
    try:
        await a.listen(hearing("a"))
        await b.listen(hearing("b"))
        assert heard == {"a": [None], "b": [None]}  # a (re)connection forgets everything
        await a.publish(["usr_1", "usr_2"])
        await b.publish(None)
        await a.client.publish(channel, '{"not": "a list"}')  # malformed, from elsewhere
        async with asyncio.timeout(5):
            for event in complete.values():
                await event.wait()
        for name in "ab":
            assert heard[name] == [None, ("usr_1", "usr_2"), None, None]
    finally:
        await a.close()
        await b.close()


# ------------------------------------------------------------ two processes
class Instance:
    def __init__(self, name, tmp_path, env):
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = (tmp_path / f"{name}.log").open("wb")
        self.process = subprocess.Popen(
            [
                str(HEXKERNEL),
                "run",
                "taskboard.app:app",
                "--port",
                str(self.port),
                "--app-dir",
                str(EXAMPLE),
            ],
            env={**os.environ, **env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )

    def wait(self):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        pytest.fail(f"{self.name} did not start:\n{Path(self.log.name).read_text()}")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()

    def get(self, path, token):
        return httpx.get(self.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10)


@pytest.fixture
def instances(tmp_path, mongo_uri, redis_url, redis_prefix):
    keys = make_key_files(tmp_path)
    config = tmp_path / "cfg.yml"
    config.write_text(
        "auth:\n"
        f"  keys: [{{kid: k1, private_key_file: {keys.paths['k1']}}}]\n"
        f"  admin: {{email: {ADMIN}}}\n"
    )
    base = {
        "HEXKERNEL_CONFIG": str(config),
        "HEXKERNEL_SERVICE": f"taskboard-{uuid.uuid4().hex[:8]}",
        "HEXKERNEL_MONGO__URI": mongo_uri,
        "HEXKERNEL_MONGO__DATABASE": f"hk_inval_{uuid.uuid4().hex[:10]}",
        "HEXKERNEL_AUTH__ADMIN__PASSWORD": ADMIN_PASSWORD,
        "HEXKERNEL_BROKER__PREFIX": redis_prefix,
        "HEXKERNEL_LOG_LEVEL": "WARNING",
    }
    shared = {**base, "HEXKERNEL_AUTH__PRINCIPAL_INVALIDATION": redis_url}
    made = {}
    try:
        made["a"] = Instance("a", tmp_path, shared)
        made["a"].wait()  # the first one creates the administrator
        made["b"] = Instance("b", tmp_path, shared)
        made["control"] = Instance("control", tmp_path, base)  # a cache, no channel
        for instance in made.values():
            instance.wait()
        yield made
    finally:
        for instance in made.values():
            instance.stop()


def token_of(url, email, password):
    answer = httpx.post(
        f"{url}/auth/token",
        data={"grant_type": "password", "username": email, "password": password},
        timeout=30,
    )
    answer.raise_for_status()
    return answer.json()["access_token"]


def sign_up(url):
    email = f"ann-{uuid.uuid4().hex[:8]}@example.org"
    body = {"name": f"Ann {uuid.uuid4().hex[:6]}", "email": email, "password": PASSWORD}
    created = httpx.post(f"{url}/users", json=body, timeout=30)
    assert created.status_code == 201, created.text
    return created.json()["id"], token_of(url, email, PASSWORD)


def set_roles(url, admin, user, roles):
    changed = httpx.patch(
        f"{url}/users/{user}",
        json={"roles": roles},
        headers={"Authorization": f"Bearer {admin}"},
        timeout=30,
    )
    assert changed.status_code == 200, changed.text


def test_a_demoted_user_loses_the_role_at_once_in_the_other_process(instances):
    a, b, control = instances["a"], instances["b"], instances["control"]
    admin = token_of(a.url, ADMIN, ADMIN_PASSWORD)
    ann, token = sign_up(a.url)
    for instance in (b, control):  # both cache Ann as a plain user
        assert instance.get("/users", token).status_code == 403
    set_roles(a.url, admin, ann, ["user", "admin"])
    assert b.get("/users", token).status_code == 200  # promoted, at once
    assert control.get("/users", token).status_code == 403  # the control still has its cache
    assert control.get(f"/users/{ann}", token).status_code == 200
    set_roles(a.url, admin, ann, ["user"])
    assert b.get("/users", token).status_code == 403  # demoted, at once


def test_a_deleted_user_is_refused_at_once_in_the_other_process(instances):
    a, b, control = instances["a"], instances["b"], instances["control"]
    admin = token_of(a.url, ADMIN, ADMIN_PASSWORD)
    ann, token = sign_up(a.url)
    for instance in (b, control):
        assert instance.get(f"/users/{ann}", token).status_code == 200
    deleted = httpx.delete(
        f"{a.url}/users/{ann}", headers={"Authorization": f"Bearer {admin}"}, timeout=30
    )
    assert deleted.status_code == 204, deleted.text
    refused = b.get(f"/users/{ann}", token)
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    # The control, with no channel, still knows Ann (its row rule now finds no document).
    assert control.get("/tasks", token).status_code == 200
