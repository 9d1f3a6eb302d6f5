"""The example service over HTTP against a hand-written Litestar + pymongo app, under wrk.

Two single-worker uvicorn servers run side by side on the session's MongoDB
server: the taskboard example (``examples/taskboard``, hexkernel's
``create_app``) and ``http_baseline.py`` (the same task routes written by
hand). Each has its own database, seeded with the same documents: a user
signs up on the example and signs in (the password grant; the example signs
with an RS256 key the benchmark writes, whose public half the baseline
verifies), then posts projects and about 1,000 tasks, so that the data is
exactly what the example stores; the databases are then copied, with the
collections' validators and indexes, into the baseline's. Before anything is
measured both apps answer the same requests and the answers are compared:
the same item, the same page, the same shape for a created task, and 401
without a token.

Then wrk (the HTTP load generator; ``apt-get install wrk``) loads one route at
a time as that user, in rounds that alternate between the two servers
(hexkernel first in even rounds, the baseline first in odd ones), after a
warm-up round each:

- ``GET /tasks/{id}``, cycling over every seeded id;
- ``GET /tasks?status=open&sort=-priority`` (a page of 20 and the total);
- ``POST /tasks`` with one valid task (the project is looked up, as the
  example's hook does); the tasks a round created are counted, checked
  against wrk's count, and deleted before the next round, so the collection
  stays near 1,000 documents.

wrk, the database server and the app share this machine's cores, so requests
per second say as much about the neighbours as about the app. The figure the
goals are about is the app's own cost: the server process's CPU time (user +
system, from ``/proc/<pid>/stat``) from the start of a round until the
server is idle again (the requests still in flight when wrk stops are served
within the round that sent them), divided by the requests wrk completed. A
round with any failed request (a socket error, a status other than the
expected one, or a POST that stored nothing) fails the test: its figures
would not be about the same work.

Last, ``test_in_process`` runs ``asgi_interleaved.py``: both apps in one
process, called as ASGI apps and alternating request by request, with the
thread's CPU time taken around each call. It leaves out the server and the
kernel (the same for both) and is far less sensitive to the machine's load
than the rounds over HTTP.

Settings (environment variables): ``HK_BENCH_HTTP_ROUNDS`` (rounds per app
and route, default 10), ``HK_BENCH_HTTP_SECONDS`` (seconds per round,
default 3; short rounds keep each pair close in time, so a change in the
machine's load hits both apps alike), ``HK_BENCH_HTTP_CONNECTIONS`` (wrk's
open connections for every route; by default 8, and 2 for the list, see
``CONNECTIONS``). Run with ``make bench`` or the command in
docs/performance.md.
"""

import contextlib
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pymongo import MongoClient

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
WRK_SCRIPT = HERE / "wrk_routes.lua"
EXAMPLE_DIR = ROOT / "examples" / "taskboard"

ROUNDS = int(os.environ.get("HK_BENCH_HTTP_ROUNDS", "10"))
SECONDS = float(os.environ.get("HK_BENCH_HTTP_SECONDS", "3"))
CONNECTIONS = {"item": 8, "list": 2, "create": 8}
"""wrk's open connections per route. The list is bound by the database server (about 80 ms
per page and count on mongoeco), so more connections only queue there and leave more
requests in flight at the end of a round."""
if os.environ.get("HK_BENCH_HTTP_CONNECTIONS"):
    CONNECTIONS = dict.fromkeys(CONNECTIONS, int(os.environ["HK_BENCH_HTTP_CONNECTIONS"]))
WARMUP_SECONDS = 2.0
TASKS = 1_000
PROJECTS = 10
LIST_PATH = "/tasks?status=open&sort=-priority"
POSTED_TITLE = "posted by the benchmark"
USER_EMAIL = "bench@example.org"
USER_PASSWORD = "bench-password-1"
CLIENT_ID = "bench"
GOALS = {"item": 1.15, "list": 1.15, "create": 1.25}
"""The most CPU per request hexkernel may spend, as a multiple of the baseline's."""

_START_TIMEOUT = 60.0
_TICKS = os.sysconf("SC_CLK_TCK")
_IDLE_WINDOW = 0.5


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """One uvicorn process (one worker, no access log) serving ``target``."""

    def __init__(self, name: str, app_dir: Path, target: str, env: dict[str, str]) -> None:
        self.name = name
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--app-dir",
                str(app_dir),
                target,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            env={**os.environ, **env},
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.pid = self._process.pid

    def wait_until_serving(self) -> None:
        """Wait until the app answers (uvicorn listens once start-up is complete)."""
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start-up:\n{self.log_tail()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/tasks", timeout=5).status_code < 500:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer within {_START_TIMEOUT:.0f} s")

    def cpu_seconds(self) -> tuple[float, float]:
        """The process's user and system CPU time so far (all its threads)."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return int(fields[11]) / _TICKS, int(fields[12]) / _TICKS  # utime, stime: fields 14, 15

    def wait_until_idle(self) -> None:
        """Wait until the process stops using CPU: the requests still in flight are done.

        When wrk stops, the requests it had sent are still being served (the list's
        wait in the database server's queue). Their CPU time belongs to the round
        that sent them, not to the next round of this server.
        """
        deadline = time.monotonic() + _START_TIMEOUT
        time.sleep(_IDLE_WINDOW)
        while time.monotonic() < deadline:
            before = sum(self.cpu_seconds())
            time.sleep(_IDLE_WINDOW)
            if sum(self.cpu_seconds()) - before <= 1 / _TICKS:
                return
        raise RuntimeError(f"{self.name} kept using CPU after the load stopped")

    def log_tail(self) -> str:
        """The end of the server's output."""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-3000:]

    def stop(self) -> None:
        """Stop the server and close its log."""
        self._process.terminate()
        try:
            self._process.wait(15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._log.close()


# ------------------------------------------------------------------- seeding
def _sign_in(url: str) -> str:
    """Sign a user up on the example, sign in with the password grant; return the token."""
    with httpx.Client(base_url=url, timeout=60) as http:
        user = {"name": "bench user", "email": USER_EMAIL, "password": USER_PASSWORD}
        http.post("/users", json=user).raise_for_status()
        form = {
            "grant_type": "password",
            "username": USER_EMAIL,
            "password": USER_PASSWORD,
            "client_id": CLIENT_ID,
        }
        answer = http.post("/auth/token", data=form).raise_for_status()
        return str(answer.json()["access_token"])


def _seed_example(url: str, token: str) -> list[str]:
    """Post projects and tasks to the example as the signed-in user; return the task ids.

    The statuses come from the example's own JSON Schema, so the data follows
    the Model as it is declared.
    """
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, timeout=60, headers=auth) as http:
        schema = http.get("/tasks/schema").raise_for_status().json()
        statuses = schema["properties"]["status"]["enum"]
        pick = random.Random(11)  # noqa: S311 - reproducible test data
        projects = []
        for number in range(PROJECTS):
            body = {"name": f"project {number}", "description": "seeded for the benchmark"}
            projects.append(http.post("/projects", json=body).raise_for_status().json()["id"])
        words = ["fix", "write", "review", "ship", "plan", "test", "deploy", "refactor"]
        ids = []
        for start in range(0, TASKS, 100):
            batch = [
                {
                    "project": pick.choice(projects),
                    "title": f"{pick.choice(words)} item {number}",
                    "status": pick.choice(statuses),
                    "priority": pick.randint(1, 5),
                    "tags": pick.sample(["api", "db", "ui", "ops", "docs"], pick.randint(0, 3)),
                    "due": f"2026-{pick.randint(1, 12):02d}-{pick.randint(1, 28):02d}"
                    if pick.random() < 0.5
                    else None,
                }
                for number in range(start, start + 100)
            ]
            created = http.post("/tasks", json=batch)
            assert created.status_code == 201, created.text
            ids.extend(item["id"] for item in created.json()["_items"])
        return ids


def _copy_database(client: MongoClient[dict[str, Any]], source: str, target: str) -> None:
    """Copy every collection of ``source`` (options, indexes, documents) into ``target``."""
    for info in client[source].list_collections():
        name = info["name"]
        client[target].create_collection(name, **info.get("options", {}))
        for index in client[source][name].list_indexes():
            if index["name"] == "_id_":
                continue
            keys = list(index["key"].items())
            if "weights" in index:  # a text index lists its fields as weights
                keys = [(k, v) for k, v in keys if k not in {"_fts", "_ftsx"}]
                keys += [(field, "text") for field in index["weights"]]
            options = {
                k: v
                for k, v in index.items()
                if k in {"name", "unique", "sparse", "weights", "default_language"}
                or k in {"partialFilterExpression", "expireAfterSeconds"}
            }
            client[target][name].create_index(keys, **options)
        documents = list(client[source][name].find())
        if documents:
            client[target][name].insert_many(documents)


# -------------------------------------------------------------------- checks
def _without_ids(body: dict[str, Any]) -> dict[str, Any]:
    """A created item with what differs between two creations (id, times) taken out."""
    text = json.dumps(body, sort_keys=True)
    text = re.sub(r"tsk_[0-9A-Z]{26}", "tsk_ID", text)
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", "TIME", text)
    return json.loads(text)  # type: ignore[no-any-return]


def _check_same_answers(
    example: Server, baseline: Server, ids: list[str], body: bytes, token: str
) -> None:
    """Both apps answer the benchmark's requests alike; fail loudly where they do not."""
    auth = {"Authorization": f"Bearer {token}"}
    for path in (f"/tasks/{ids[17]}", f"/tasks/{ids[-1]}", LIST_PATH):
        ours = httpx.get(example.url + path, headers=auth, timeout=30)
        theirs = httpx.get(baseline.url + path, headers=auth, timeout=30)
        assert ours.status_code == theirs.status_code == 200, (ours.text, theirs.text)
        assert ours.json() == theirs.json(), f"the two apps answer GET {path} differently"
        assert ours.headers.get("etag") == theirs.headers.get("etag")
        assert ours.headers["x-request-id"]
        assert theirs.headers["x-request-id"]
    for server in (example, baseline):
        anonymous = httpx.get(f"{server.url}/tasks/{ids[17]}", timeout=30)
        assert anonymous.status_code == 401, f"{server.name} serves a task to anonymous callers"
    headers = {"Content-Type": "application/json", **auth}
    ours = httpx.post(f"{example.url}/tasks", content=body, headers=headers, timeout=30)
    theirs = httpx.post(f"{baseline.url}/tasks", content=body, headers=headers, timeout=30)
    assert ours.status_code == theirs.status_code == 201, (ours.text, theirs.text)
    assert _without_ids(ours.json()) == _without_ids(theirs.json()), (
        "the two apps answer POST /tasks differently"
    )
    assert ours.headers["location"] == f"/tasks/{ours.json()['id']}"
    assert theirs.headers["location"] == f"/tasks/{theirs.json()['id']}"


# ---------------------------------------------------------------- the bench
class Bench:
    """The two servers, their databases and the wrk runs."""

    def __init__(self, uri: str, workdir: Path) -> None:
        self.uri = uri
        self.workdir = workdir
        self.mongo: MongoClient[dict[str, Any]] = MongoClient(uri, tz_aware=True)
        tag = uuid.uuid4().hex[:12]
        self.databases = {"hexkernel": f"hk_http_{tag}", "baseline": f"hk_http_base_{tag}"}
        self.servers: dict[str, Server] = {}
        self.ids: list[str] = []
        self.ids_file = workdir / "ids.txt"
        self.body_file = workdir / "task.json"
        self.token = ""
        self.env: dict[str, dict[str, str]] = {}

    def _keys_and_config(self) -> tuple[Path, Path]:
        """Write an RS256 key pair and the example's ``cfg.yml``; return the config and key."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private = self.workdir / "signing-key.pem"
        private.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        public = self.workdir / "signing-key.pub.pem"
        public.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        config = self.workdir / "cfg.yml"
        config.write_text(
            "auth:\n"
            "  access_token_seconds: 86400\n"
            f"  keys: [{{kid: bench, private_key_file: {private}}}]\n"
            f"  clients: {{{CLIENT_ID}: {{grants: [password]}}}}\n"
        )
        return config, public

    def start(self) -> None:
        """Start both apps, seed their databases and check that they answer alike."""
        config, public_key = self._keys_and_config()
        self.env = {
            "hexkernel": {
                "HEXKERNEL_CONFIG": str(config),
                "HEXKERNEL_MONGO__URI": self.uri,
                "HEXKERNEL_MONGO__DATABASE": self.databases["hexkernel"],
                "HEXKERNEL_LOG_LEVEL": "WARNING",
                # The baseline reads the user on every request: so does the example here.
                "HEXKERNEL_AUTH__PRINCIPAL_CACHE_SECONDS": "0",
            },
            "baseline": {
                "HK_BASELINE_MONGO_URI": self.uri,
                "HK_BASELINE_DATABASE": self.databases["baseline"],
                "HK_BASELINE_PUBLIC_KEY_FILE": str(public_key),
            },
        }
        self.servers["hexkernel"] = Server(
            "hexkernel", EXAMPLE_DIR, "taskboard.app:app", self.env["hexkernel"]
        )
        self.servers["baseline"] = Server(
            "baseline", HERE, "http_baseline:app", self.env["baseline"]
        )
        for server in self.servers.values():
            server.wait_until_serving()
        self.token = _sign_in(self.servers["hexkernel"].url)
        self.ids = _seed_example(self.servers["hexkernel"].url, self.token)
        _copy_database(self.mongo, self.databases["hexkernel"], self.databases["baseline"])
        project = self.mongo[self.databases["hexkernel"]]["projects"].find_one()
        assert project is not None
        self.ids_file.write_text("\n".join(self.ids) + "\n")
        body = json.dumps(
            {
                "project": project["_id"],
                "title": POSTED_TITLE,
                "priority": 4,
                "tags": ["api", "ops"],
                "due": "2026-12-24",
            }
        )
        self.body_file.write_text(body)
        _check_same_answers(
            self.servers["hexkernel"], self.servers["baseline"], self.ids, body.encode(), self.token
        )
        self.delete_posted()

    def delete_posted(self) -> dict[str, int]:
        """Delete the tasks POST rounds created; return how many each database held."""
        deleted = {}
        for name, database in self.databases.items():
            result = self.mongo[database]["tasks"].delete_many({"title": POSTED_TITLE})
            deleted[name] = result.deleted_count
        return deleted

    def wrk(self, server: Server, route: str, seconds: float) -> dict[str, Any]:
        """Load one route of ``server`` with wrk for ``seconds``; return wrk's totals."""
        url, arguments = {
            "item": (f"{server.url}/", ["item", "200", self.token, str(self.ids_file)]),
            "list": (server.url + LIST_PATH, ["list", "200", self.token]),
            "create": (f"{server.url}/tasks", ["create", "201", self.token, str(self.body_file)]),
        }[route]
        wrk = shutil.which("wrk")
        assert wrk is not None
        command = [
            wrk,
            "-t1",
            f"-c{CONNECTIONS[route]}",
            f"-d{seconds:g}s",
            "--timeout",
            "10s",
            "-s",
            str(WRK_SCRIPT),
            url,
            "--",
            *arguments,
        ]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=seconds + 60, check=False
        )
        line = next((ln for ln in done.stdout.splitlines() if ln.startswith("HK_RESULT ")), None)
        assert done.returncode == 0, f"wrk failed:\n{done.stdout}{done.stderr}"
        assert line is not None, f"wrk printed no result:\n{done.stdout}{done.stderr}"
        result: dict[str, Any] = json.loads(line.removeprefix("HK_RESULT "))
        failed = {
            k: result[k] for k in ("connect", "read", "write", "status", "timeout", "unexpected")
        }
        assert result["requests"] > 0, f"{server.name} {route}: wrk completed no request"
        assert not any(failed.values()), (
            f"{server.name} {route}: failed requests {failed}; last unexpected response: "
            f"{result['sample']}\n{server.log_tail()}"
        )
        return result

    def round(self, server: Server, route: str, seconds: float) -> dict[str, Any]:
        """One measured round: wrk's totals and the server's CPU time over them."""
        if route == "create":
            self.delete_posted()
        user, system = server.cpu_seconds()
        result = self.wrk(server, route, seconds)
        server.wait_until_idle()
        user_after, system_after = server.cpu_seconds()
        result["user_s"], result["system_s"] = user_after - user, system_after - system
        result["cpu_s"] = result["user_s"] + result["system_s"]
        if route == "create":
            stored = self.delete_posted()[server.name]
            # wrk counts completed responses; requests in flight when it stops may be stored too.
            assert result["requests"] <= stored <= result["requests"] + CONNECTIONS[route], (
                f"{server.name}: wrk saw {result['requests']} created, the database has {stored}"
            )
        return result

    def measure(self, route: str) -> dict[str, list[dict[str, Any]]]:
        """Warm both servers up, then run interleaved rounds; return each server's rounds."""
        order = ["hexkernel", "baseline"]
        for name in order:
            self.round(self.servers[name], route, WARMUP_SECONDS)
        rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in order}
        for number in range(ROUNDS):
            for name in order if number % 2 == 0 else reversed(order):
                rounds[name].append(self.round(self.servers[name], route, SECONDS))
        return rounds

    def in_process(self, route: str, count: int) -> dict[str, list[float]]:
        """Run ``asgi_interleaved.py`` on ``route``: each app's CPU seconds per request."""
        env = {
            **os.environ,
            **self.env["hexkernel"],
            **self.env["baseline"],
            "PYTHONPATH": os.pathsep.join([str(EXAMPLE_DIR), str(HERE)]),
        }
        arguments = [route, str(count), self.token, str(self.ids_file), str(self.body_file)]
        done = subprocess.run(
            [sys.executable, str(HERE / "asgi_interleaved.py"), *arguments],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, f"the in-process run failed:\n{done.stderr[-3000:]}"
        if route == "create":
            self.delete_posted()
        return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]

    def close(self) -> None:
        """Stop the servers and drop the databases."""
        try:
            for server in self.servers.values():
                server.stop()
            for database in self.databases.values():
                self.mongo.drop_database(database)
        finally:
            self.mongo.close()


def require_wrk() -> None:
    """Skip without wrk, except under CI (``CI`` true or 1), where a missing tool fails."""
    if shutil.which("wrk") is not None:
        return
    reason = "wrk is not installed: the HTTP benchmark needs it (apt-get install wrk)"
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def bench(mongo_uri: str) -> Iterator[Bench]:
    require_wrk()
    with tempfile.TemporaryDirectory() as workdir:
        made = Bench(mongo_uri, Path(workdir))
        try:
            made.start()
            yield made
        finally:
            made.close()


# ------------------------------------------------------------------ report
def _summary(route: str, rounds: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Each app's requests/s and CPU per request, and hexkernel's ratios to the baseline."""
    out: dict[str, Any] = {"route": route, "rounds": ROUNDS, "seconds": SECONDS}
    for name, runs in rounds.items():
        requests = sum(r["requests"] for r in runs)
        out[name] = {
            "requests": requests,
            "rps_median": statistics.median(r["requests"] / r["duration_us"] * 1e6 for r in runs),
            "cpu_us_per_request": sum(r["cpu_s"] for r in runs) / requests * 1e6,
            "user_us_per_request": sum(r["user_s"] for r in runs) / requests * 1e6,
            "system_us_per_request": sum(r["system_s"] for r in runs) / requests * 1e6,
            "cpu_us_per_request_rounds": [r["cpu_s"] / r["requests"] * 1e6 for r in runs],
            "p50_ms_median": statistics.median(r["p50_us"] for r in runs) / 1000,
        }
    ours, theirs = out["hexkernel"], out["baseline"]
    out["cpu_ratio"] = ours["cpu_us_per_request"] / theirs["cpu_us_per_request"]
    out["cpu_ratio_rounds"] = [
        a / b
        for a, b in zip(
            ours["cpu_us_per_request_rounds"], theirs["cpu_us_per_request_rounds"], strict=True
        )
    ]
    out["cpu_ratio_median_round"] = statistics.median(out["cpu_ratio_rounds"])
    out["user_ratio"] = ours["user_us_per_request"] / theirs["user_us_per_request"]
    out["rps_ratio"] = ours["rps_median"] / theirs["rps_median"]
    out["goal"] = GOALS[route]
    return out


def _table(summary: dict[str, Any]) -> str:
    route = summary["route"]
    heading = (
        f"\nHTTP {route}: {summary['rounds']} rounds x {summary['seconds']:g} s per app, "
        f"{CONNECTIONS[route]} connections"
    )
    columns = (
        f"  {'app':<10} {'req/s (median)':>15} {'CPU us/req':>11} {'user':>6} {'system':>7} "
        f"{'p50 ms':>7} {'requests':>9}"
    )
    rows = [heading, columns]
    for name in ("baseline", "hexkernel"):
        app = summary[name]
        rows.append(
            f"  {name:<10} {app['rps_median']:>15.0f} {app['cpu_us_per_request']:>11.0f} "
            f"{app['user_us_per_request']:>6.0f} {app['system_us_per_request']:>7.0f} "
            f"{app['p50_ms_median']:>7.1f} {app['requests']:>9}"
        )
    per_round = ", ".join(f"{r:.2f}" for r in summary["cpu_ratio_rounds"])
    verdict = "met" if summary["cpu_ratio"] <= summary["goal"] else "MISSED"
    rows.append(
        f"  hexkernel/baseline: CPU per request x{summary['cpu_ratio']:.2f} "
        f"(goal <= x{summary['goal']:.2f}: {verdict}); user CPU x{summary['user_ratio']:.2f}; "
        f"req/s x{summary['rps_ratio']:.2f}"
    )
    rows.append(
        f"  CPU per request per round: median x{summary['cpu_ratio_median_round']:.2f}; {per_round}"
    )
    return "\n".join(rows) + "\n"


def _run(route: str, bench: Bench, benchmark: Any, capsys: pytest.CaptureFixture[str]) -> None:
    measured: dict[str, Any] = {}

    def measure() -> None:
        measured.update(_summary(route, bench.measure(route)))

    benchmark.pedantic(measure, rounds=1, iterations=1)
    benchmark.extra_info.update(measured)
    with capsys.disabled():
        sys.stdout.write(_table(measured))


@pytest.mark.benchmark(group="http: GET /tasks/{id}")
def test_get_item(bench, benchmark, capsys):
    _run("item", bench, benchmark, capsys)


@pytest.mark.benchmark(group="http: GET /tasks?status=open&sort=-priority")
def test_list(bench, benchmark, capsys):
    _run("list", bench, benchmark, capsys)


@pytest.mark.benchmark(group="http: POST /tasks")
def test_create(bench, benchmark, capsys):
    _run("create", bench, benchmark, capsys)


IN_PROCESS_REQUESTS = {"item": 400, "list": 100, "create": 200}
"""Requests per app and route in the in-process comparison."""


@pytest.mark.benchmark(group="http: in process, ASGI only")
def test_in_process(bench, benchmark, capsys):
    """The apps' own CPU per request, called in one process, alternating request by request."""
    measured: dict[str, Any] = {}

    def measure() -> None:
        for route, count in IN_PROCESS_REQUESTS.items():
            cpu = bench.in_process(route, count)
            means = {name: statistics.mean(times) * 1e6 for name, times in cpu.items()}
            medians = {name: statistics.median(times) * 1e6 for name, times in cpu.items()}
            measured[route] = {
                "requests": count,
                "mean_us": means,
                "median_us": medians,
                "ratio_of_means": means["hexkernel"] / means["baseline"],
                "ratio_of_medians": medians["hexkernel"] / medians["baseline"],
            }

    benchmark.pedantic(measure, rounds=1, iterations=1)
    benchmark.extra_info.update(measured)
    rows = ["\nIn process (ASGI calls, no server, alternating per request): CPU us per request"]
    rows.append(f"  {'route':<7} {'requests':>9} {'baseline':>9} {'hexkernel':>10} {'ratio':>6}")
    for route, figures in measured.items():
        rows.append(
            f"  {route:<7} {figures['requests']:>9} {figures['mean_us']['baseline']:>9.0f} "
            f"{figures['mean_us']['hexkernel']:>10.0f} {figures['ratio_of_means']:>6.2f}"
        )
    with capsys.disabled():
        sys.stdout.write("\n".join(rows) + "\n")
