"""A real Redis for the integration tests of the Redis Streams broker.

This pytest plugin (loaded by ``tests/conftest.py``) finds a server the first time a
test asks for one:

1. ``REDIS_URL``: when set, it is used as is;
2. ``redis://127.0.0.1:6379/0``, when a server answers a ping there;
3. a ``redis-server`` found on PATH, started for the session on a free port
   (no persistence), and stopped at the end.

When none can be had, a test that needs the server is skipped, saying why; on CI
(``CI`` is ``true`` or ``1``) it fails instead.

Fixtures:
    redis_url: The server's URL (session scope).
    redis_prefix: A unique key prefix for one test; every key under it is deleted
        after the test.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import uuid
from typing import TYPE_CHECKING

import pytest
import redis

if TYPE_CHECKING:
    from collections.abc import Iterator

_DEFAULT_URL = "redis://127.0.0.1:6379/0"
_START_TIMEOUT = 10.0


def _answers(url: str) -> str | None:
    """``None`` when the server at ``url`` answers a ping, else why not."""
    client = redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=2.0)
    try:
        client.ping()
    except redis.RedisError as error:
        return f"{url} does not answer: {error}"
    finally:
        client.close()
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_server() -> tuple[str, subprocess.Popen[bytes]]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("no redis-server on PATH")
    port = _free_port()
    process = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + _START_TIMEOUT
    while (problem := _answers(url)) is not None:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise RuntimeError(f"redis-server did not start: {problem}")
        time.sleep(0.1)
    return url, process


def _on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1"}


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The URL of the session's Redis; skips the test (fails it on CI) without one."""
    given = os.environ.get("REDIS_URL")
    reasons = []
    process: subprocess.Popen[bytes] | None = None
    url = given or _DEFAULT_URL
    problem = _answers(url)
    if problem is not None:
        reasons.append(problem)
        if not given:
            try:
                url, process = _start_server()
                problem = None
            except RuntimeError as error:
                reasons.append(str(error))
    if problem is not None:
        message = "No Redis for the integration tests: " + "; ".join(reasons)
        if _on_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    try:
        yield url
    finally:
        if process is not None:
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix unique to the test; its keys are deleted afterwards."""
    prefix = f"hk_test:{uuid.uuid4().hex}:"
    try:
        yield prefix
    finally:
        client = redis.Redis.from_url(redis_url)
        try:
            keys = list(client.scan_iter(match=f"{prefix}*", count=500))
            if keys:
                client.delete(*keys)
        finally:
            client.close()
