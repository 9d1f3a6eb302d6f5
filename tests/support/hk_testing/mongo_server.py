"""A real MongoDB, over the real wire protocol, for the integration tests.

This pytest plugin (loaded by ``tests/conftest.py``) finds a server the first time a
test asks for one, trying in this order:

1. ``MONGODB_URI``: when set, it is used as is.
2. testcontainers: when a Docker engine answers at ``DOCKER_HOST`` (default
   ``unix:///var/run/docker.sock``), a ``MONGO_IMAGE`` container runs for the session.
3. mongoeco: the MongoDB-wire-compatible server of the PyPI package ``mongoeco``,
   which needs Python >= 3.13. A Python that old or newer is looked for (the test
   interpreter itself, pyenv's ``versions/3.13*`` and ``3.14*``, then ``python3.13``
   and ``python3.14`` on PATH), a venv with ``mongoeco[wire]==MONGOECO_VERSION`` is
   built once under ``$XDG_CACHE_HOME/hexkernel`` (default ``~/.cache/hexkernel``),
   and ``_mongoeco_server.py`` runs in it as a subprocess for the session. Its data
   lives in memory only.

When none can be had, a test that needs the server is skipped, saying why each source
failed; on CI (``CI`` is ``true`` or ``1``) it fails instead.

Environment variables read:
    MONGODB_URI: The connection string of a server to use as is.
    DOCKER_HOST: Where the Docker engine listens.
    HK_MONGOECO_PYTHON: The only Python to try for mongoeco (its path). Setting it to
        a path that does not run, e.g. ``/nonexistent``, makes mongoeco unavailable:
        the way to check the skip and fail behaviour.
    XDG_CACHE_HOME: The root of the cache that holds mongoeco's venv.
    CI: ``true`` or ``1`` turns a missing server from a skip into a failure.

Fixtures:
    mongo_server: The session's ``MongoServer`` (session scope).
    mongo_uri: Its connection string (session scope).
    mongo_client: A ``pymongo.AsyncMongoClient`` closed after the test.
    mongo_db: A database with a fresh random name, dropped after the test.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import pytest
from pymongo import AsyncMongoClient, MongoClient
from pymongo.errors import PyMongoError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator

    from pymongo.asynchronous.database import AsyncDatabase

MONGOECO_VERSION = "4.11.0"
"""The mongoeco release the fallback server runs."""

MONGO_IMAGE = "mongo:8.0"
"""The image testcontainers runs when a Docker engine answers."""

Kind = Literal["uri", "testcontainers", "mongoeco"]

_MIN_PYTHON = (3, 13)
_LAUNCHER = Path(__file__).with_name("_mongoeco_server.py")
_DOCKER_TIMEOUT = 1.0
_PROBE_TIMEOUT = 15.0
_INSTALL_TIMEOUT = 600.0
_LAUNCH_TIMEOUT = 60.0
_PING_TIMEOUT = 30.0
_STOP_TIMEOUT = 10.0
_TAIL = 2000


class ServerUnavailableError(RuntimeError):
    """A MongoDB server could not be had; the message says why."""


class MongoServer:
    """The MongoDB server of the test session.

    Attributes:
        uri: The connection string to give pymongo.
        kind: Where the server came from: ``"uri"``, ``"testcontainers"`` or
            ``"mongoeco"``.
    """

    def __init__(
        self,
        uri: str,
        kind: Kind,
        *,
        process: _MongoecoProcess | None = None,
        on_close: Callable[[], object] | None = None,
    ) -> None:
        self.uri = uri
        self.kind: Kind = kind
        self._process = process
        self._on_close = on_close

    def __repr__(self) -> str:
        return f"MongoServer(uri={self.uri!r}, kind={self.kind!r})"

    def stop(self) -> None:
        """Stop the server; its clients see their connections drop.

        Raises:
            ServerUnavailableError: The server is not one this session can stop.
        """
        self._own_process().stop()

    def start(self) -> None:
        """Start the stopped server again at the same URI, with no data.

        Raises:
            ServerUnavailableError: The server is not one this session can start, or
                it did not come back.
        """
        self._own_process().start()

    def close(self) -> None:
        """Release the server at the end of the session."""
        if self._process is not None:
            self._process.stop()
        if self._on_close is not None:
            self._on_close()

    def _own_process(self) -> _MongoecoProcess:
        if self._process is None:
            raise ServerUnavailableError(f"a {self.kind} server cannot be stopped or started")
        return self._process


class _MongoecoProcess:
    """The launcher subprocess, which keeps its port across a stop and a start."""

    def __init__(self, python: Path) -> None:
        self._python = python
        self._port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    def start(self) -> str:
        """Start the server (on its previous port, if any) and wait until it answers.

        Returns:
            The server's connection string.

        Raises:
            ServerUnavailableError: The launcher died, hung or does not answer a ping.
        """
        if self._process is not None:
            raise ServerUnavailableError("the mongoeco server is already running")
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        self._process = subprocess.Popen(
            [self._python, _LAUNCHER, "--port", str(self._port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        try:
            uri = self._read_uri()
            _wait_for_ping(uri)
        except ServerUnavailableError:
            self.stop()
            raise
        self._port = urlsplit(uri).port or 0
        return uri

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and close its pipes; idempotent."""
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            for pipe in (process.stdin, process.stdout):
                if pipe is not None:
                    pipe.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def _read_uri(self) -> str:
        """Read the URI line the launcher prints once it listens."""
        assert self._process is not None
        assert self._process.stdout is not None
        fd = self._process.stdout.fileno()
        deadline = time.monotonic() + _LAUNCH_TIMEOUT
        received = b""
        while b"\n" not in received:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ServerUnavailableError(
                    f"the launcher printed no URI within {_LAUNCH_TIMEOUT:.0f} s"
                    f"{self._stderr_tail()}"
                )
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    code = self._process.wait(_STOP_TIMEOUT)
                    raise ServerUnavailableError(
                        f"the launcher exited with code {code}{self._stderr_tail()}"
                    )
                received += chunk
        return received.split(b"\n", 1)[0].decode().strip()

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        text = self._stderr.read().decode(errors="replace").strip()
        return f"; its stderr ends with:\n{text[-_TAIL:]}" if text else ""


def _wait_for_ping(uri: str) -> None:
    """Wait until the server at ``uri`` answers a ping.

    Raises:
        ServerUnavailableError: It did not within ``_PING_TIMEOUT`` seconds.
    """
    client: MongoClient[dict[str, Any]] = MongoClient(
        uri, serverSelectionTimeoutMS=int(_PING_TIMEOUT * 1000)
    )
    try:
        client.admin.command("ping")
    except PyMongoError as error:
        raise ServerUnavailableError(f"{uri} does not answer a ping: {error}") from error
    finally:
        client.close()


def _run(command: list[str | Path], doing: str, timeout: float) -> None:
    """Run a command to its end, quietly.

    Raises:
        ServerUnavailableError: It did not run, timed out or exited non-zero.
    """
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.SubprocessError) as error:
        raise ServerUnavailableError(f"{doing} failed: {error}") from error
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip()[-_TAIL:]
        raise ServerUnavailableError(
            f"{doing} failed with exit code {result.returncode}:\n{output}"
        )


# ------------------------------------------------------------------------ sources
def _from_testcontainers() -> MongoServer:
    """Run a MongoDB container when a Docker engine answers.

    Raises:
        ServerUnavailableError: No engine answers, or the container did not start.
    """
    _check_docker_engine()
    # Imported only now: testcontainers and docker cost time, and they warn.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            from testcontainers.community.mongodb import MongoDbContainer
        except ImportError:  # testcontainers before its community split
            from testcontainers.mongodb import MongoDbContainer
        container = MongoDbContainer(MONGO_IMAGE)
        try:
            container.start()
        except Exception as error:
            with contextlib.suppress(Exception):
                container.stop()
            raise ServerUnavailableError(
                f"the {MONGO_IMAGE} container did not start: {error}"
            ) from error
    return MongoServer(container.get_connection_url(), "testcontainers", on_close=container.stop)


def _check_docker_engine() -> None:
    """Check, within about a second, that a Docker engine answers a ping.

    The socket is probed first: docker-py leaks a socket (a ResourceWarning) when it
    fails to connect, and no Docker at all is the common case.

    Raises:
        ServerUnavailableError: No engine answers.
    """
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    parts = urlsplit(host)
    try:
        if parts.scheme == "unix":
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.settimeout(_DOCKER_TIMEOUT)
                probe.connect(parts.path)
        elif parts.scheme in {"tcp", "http", "https"} and parts.hostname:
            address = (parts.hostname, parts.port or 2375)
            socket.create_connection(address, timeout=_DOCKER_TIMEOUT).close()
        else:
            raise ServerUnavailableError(f"DOCKER_HOST={host} is not a socket this probes")
    except OSError as error:
        raise ServerUnavailableError(f"no Docker engine at {host} ({error})") from error

    import docker

    try:
        client = docker.from_env(timeout=int(_DOCKER_TIMEOUT) or 1)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as error:
        raise ServerUnavailableError(f"the Docker engine at {host} does not answer: {error}") from (
            error
        )


def _from_mongoeco() -> MongoServer:
    """Run mongoeco's wire server under a Python >= 3.13 in its own cached venv.

    Raises:
        ServerUnavailableError: No such Python, the venv could not be built, or the
            server did not start.
    """
    python, version = _find_python()
    process = _MongoecoProcess(_mongoeco_venv(python, version))
    return MongoServer(process.start(), "mongoeco", process=process)


def _find_python() -> tuple[str, str]:
    """Find a Python >= 3.13 that runs.

    Returns:
        Its path and its version, e.g. ``"3.13.0"``.

    Raises:
        ServerUnavailableError: None of the candidates runs and is recent enough.
    """
    override = os.environ.get("HK_MONGOECO_PYTHON")
    candidates = [override] if override else _python_candidates()
    rejected = []
    for candidate in candidates:
        version = _python_version(candidate)
        if version is None:
            rejected.append(f"{candidate} does not run")
        elif version[:2] < _MIN_PYTHON:
            rejected.append(f"{candidate} is {'.'.join(map(str, version))}")
        else:
            return candidate, ".".join(map(str, version))
    tried = "; ".join(rejected) if rejected else "no candidate found"
    where = "HK_MONGOECO_PYTHON" if override else "pyenv and PATH"
    raise ServerUnavailableError(f"no Python >= 3.13 in {where} ({tried})")


def _python_candidates() -> list[str]:
    """List the interpreters worth probing, best first, without duplicates."""
    found = [sys.executable] if sys.version_info >= _MIN_PYTHON else []
    versions = _pyenv_root() / "versions"
    for pattern in ("3.13*", "3.14*"):
        found.extend(str(path / "bin" / "python3") for path in sorted(versions.glob(pattern)))
    for name in ("python3.13", "python3.14"):
        path = shutil.which(name)
        if path:
            found.append(path)
    return list(dict.fromkeys(found))


def _pyenv_root() -> Path:
    """Ask pyenv for its root; fall back to ``$PYENV_ROOT`` or ``~/.pyenv``."""
    pyenv = shutil.which("pyenv")
    if pyenv:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            result = subprocess.run(
                [pyenv, "root"], capture_output=True, text=True, timeout=_PROBE_TIMEOUT, check=False
            )
            if result.returncode == 0 and result.stdout.strip():
                return Path(result.stdout.strip())
    return Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")


def _python_version(python: str) -> tuple[int, ...] | None:
    """Run ``python`` to learn its version; ``None`` when it does not run.

    A pyenv shim exists even where no interpreter stands behind it, hence the run.
    """
    try:
        result = subprocess.run(
            [python, "-c", "import sys; print(*sys.version_info[:3])"],
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT,
            check=False,
        )
        return tuple(int(part) for part in result.stdout.split()) if not result.returncode else None
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def _mongoeco_venv(python: str, version: str) -> Path:
    """Build, once, a venv with mongoeco for ``python``; return the venv's Python.

    A marker file written after a successful install tells a finished venv from a
    half-built one, which is built anew. A file lock keeps parallel sessions (e.g.
    pytest-xdist workers) from building the same venv at once.

    Raises:
        ServerUnavailableError: The venv or the install failed.
    """
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hexkernel"
    venv = cache / f"mongoeco-{version}-{MONGOECO_VERSION}"
    venv_python = venv / "bin" / "python"
    marker = venv / "hexkernel-ready"
    try:
        cache.mkdir(parents=True, exist_ok=True)
        lock = (cache / f"{venv.name}.lock").open("w")
    except OSError as error:
        raise ServerUnavailableError(f"cannot use the cache {cache}: {error}") from error
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file() and venv_python.exists():
            return venv_python
        _run([python, "-m", "venv", "--clear", venv], f"creating the venv {venv}", _PROBE_TIMEOUT)
        _run(
            [
                venv_python,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                f"mongoeco[wire]=={MONGOECO_VERSION}",
            ],
            f"installing mongoeco {MONGOECO_VERSION} into {venv}",
            _INSTALL_TIMEOUT,
        )
        marker.write_text(f"mongoeco[wire]=={MONGOECO_VERSION}\n")
    return venv_python


def _acquire() -> MongoServer:
    """Take the first server source that works.

    Raises:
        ServerUnavailableError: None did; the message says why, source by source.
    """
    uri = os.environ.get("MONGODB_URI")
    if uri:
        return MongoServer(uri, "uri")
    reasons = ["MONGODB_URI: not set"]
    sources: tuple[tuple[str, Callable[[], MongoServer]], ...] = (
        ("testcontainers", _from_testcontainers),
        ("mongoeco", _from_mongoeco),
    )
    for name, source in sources:
        try:
            return source()
        except ServerUnavailableError as error:
            reasons.append(f"{name}: {error}")
    listed = "\n".join(f"  {number}. {reason}" for number, reason in enumerate(reasons, 1))
    raise ServerUnavailableError(
        "No MongoDB server for the integration tests. Tried, in order:\n"
        f"{listed}\n"
        "Set MONGODB_URI, start a Docker engine, or install Python >= 3.13 "
        "(e.g. `pyenv install 3.13`) for mongoeco."
    )


def _on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1"}


# ----------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def mongo_server() -> Iterator[MongoServer]:
    """Start, or find, the session's MongoDB server on first use.

    Yields:
        The server; skips the test (fails it on CI) when none can be had.
    """
    try:
        server = _acquire()
    except ServerUnavailableError as error:
        unavailable = str(error)
    else:
        unavailable = ""
    # Outside the except block, so the report carries no chained traceback.
    if unavailable:
        if _on_ci():
            pytest.fail(unavailable, pytrace=False)
        pytest.skip(unavailable)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def mongo_uri(mongo_server: MongoServer) -> str:
    """Return the connection string of the session's MongoDB server."""
    return mongo_server.uri


@pytest.fixture
async def mongo_client(mongo_uri: str) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    """Yield an async client of the session's server, closed after the test."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongo_uri, tz_aware=True, serverSelectionTimeoutMS=5000
    )
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def mongo_db(
    mongo_client: AsyncMongoClient[dict[str, Any]],
) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    """Yield a database with a fresh random name, dropped after the test."""
    name = f"hk_test_{uuid.uuid4().hex}"
    try:
        yield mongo_client[name]
    finally:
        await mongo_client.drop_database(name)
