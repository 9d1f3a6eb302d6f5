"""What authentication costs: ``GET /tasks/{id}`` with a bearer token against the same route open.

Goal: the authenticated route reaches at least 0.9x the throughput of the
same route unauthenticated.

Three single-worker uvicorn servers share one database of the session's
MongoDB server, and so the same documents:

- ``authenticated``: the taskboard example as shipped (``taskboard.app:app``),
  with the auth settings at their defaults: a verified token is cached for
  ``token_cache_seconds`` (60), and a user lookup for
  ``principal_cache_seconds`` (60), evicted as soon as the user is written
  (so a deleted or demoted user is still refused at once). ``Task``'s row
  rule (the owner, or an admin) is added to the read. The goal is measured
  on this server.
- ``per_request``: the same example with ``principal_cache_seconds`` 0: the
  user is read on every request, one more database round trip (reported for
  information; it is what ``test_http.py`` measures against its baseline).
- ``open``: ``taskboard_open.py``, the example's ``Task`` on the same
  collection with no access rules, served by ``create_app`` without
  ``security=``: no token is read, no user is looked up, no row filter.

The data is what ``test_http.py`` seeds (its helpers do it): a user signs up
on the example and signs in with the password grant, then posts 10 projects
and 1,000 tasks. Before measuring, the open route must answer an anonymous
request with the very JSON and ``ETag`` the example gives the signed-in
owner, and the example must refuse the anonymous request (401).

wrk then loads ``GET /tasks/{id}`` (cycling over the 1,000 ids, 8
connections) with ``test_http.py``'s ``Bench`` and ``Server``: after a
warm-up round each, rounds alternate between an authenticated server and the
open one (the authenticated first in even rounds). Every request carries the
bearer token, so both servers parse the same bytes; the open one ignores it.
Requests/s are wrk's; the CPU per request is the server process's user +
system time over the round, as in ``test_http.py``. Last,
``asgi_auth_interleaved.py`` measures the same route in one process, calling
the example and the open app as ASGI apps alternately, request by request.

Settings: ``HK_BENCH_HTTP_ROUNDS``, ``HK_BENCH_HTTP_SECONDS`` and
``HK_BENCH_HTTP_CONNECTIONS`` as for ``test_http.py``. Run with ``make
bench`` or the command in docs/performance.md.
"""

import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent


def _load_sibling(name: str) -> ModuleType:
    """Import a module of this folder by path (the benchmarks are not a package)."""
    spec = importlib.util.spec_from_file_location(f"hk_bench_{name}", HERE / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


http = _load_sibling("test_http")

GOAL = 0.9
"""The least throughput the authenticated route may reach, as a multiple of the open one's."""
IN_PROCESS_REQUESTS = 400
AUTHENTICATED = {"authenticated": "as shipped", "per_request": "per-request lookup"}
"""The authenticated servers, each measured against the open one."""
GOAL_SERVER = "authenticated"
"""The server the goal is about; the other one is reported for information."""


class AuthBench(http.Bench):  # type: ignore[misc, name-defined]
    """The example twice (as shipped, per-request lookup) and the open app, on one database."""

    def __init__(self, uri: str, workdir: Path) -> None:
        super().__init__(uri, workdir)
        database = self.databases["hexkernel"]
        self.databases = {"hexkernel": database}

    def start(self) -> None:
        """Start the example, seed it, start the others and check the answers."""
        config, _ = self._keys_and_config()
        example = {
            "HEXKERNEL_CONFIG": str(config),
            "HEXKERNEL_MONGO__URI": self.uri,
            "HEXKERNEL_MONGO__DATABASE": self.databases["hexkernel"],
            "HEXKERNEL_LOG_LEVEL": "WARNING",
        }
        per_request = {"HEXKERNEL_AUTH__PRINCIPAL_CACHE_SECONDS": "0"}
        path = os.pathsep.join([str(http.EXAMPLE_DIR), str(HERE)])
        self.env = {
            "authenticated": example,
            "per_request": {**example, **per_request},
            "open": {**example, "PYTHONPATH": path},
        }
        first = http.Server("authenticated", http.EXAMPLE_DIR, "taskboard.app:app", example)
        self.servers["authenticated"] = first
        first.wait_until_serving()
        self.token = http._sign_in(first.url)
        self.ids = http._seed_example(first.url, self.token)
        self.ids_file.write_text("\n".join(self.ids) + "\n")
        self.servers["per_request"] = http.Server(
            "per_request", http.EXAMPLE_DIR, "taskboard.app:app", self.env["per_request"]
        )
        self.servers["open"] = http.Server("open", HERE, "taskboard_open:app", self.env["open"])
        for server in self.servers.values():
            server.wait_until_serving()
        self.check_same_answers()

    def check_same_answers(self) -> None:
        """The open route answers anonymous callers what the example answers the owner."""
        auth = {"Authorization": f"Bearer {self.token}"}
        opened = self.servers["open"]
        for task_id in (self.ids[17], self.ids[-1]):
            path = f"/tasks/{task_id}"
            theirs = httpx.get(opened.url + path, timeout=30)
            assert theirs.status_code == 200, theirs.text
            for name in AUTHENTICATED:
                ours = httpx.get(self.servers[name].url + path, headers=auth, timeout=30)
                assert ours.status_code == 200, ours.text
                assert ours.json() == theirs.json(), f"{name} and open answer GET {path} apart"
                assert ours.headers["etag"] == theirs.headers["etag"]
                anonymous = httpx.get(self.servers[name].url + path, timeout=30)
                assert anonymous.status_code == 401, f"{name} serves a task to anonymous callers"

    def measure_against_open(self, name: str) -> dict[str, list[dict[str, Any]]]:
        """Warm both up, then alternate rounds of ``name`` and the open server."""
        order = [name, "open"]
        for server in order:
            self.round(self.servers[server], "item", http.WARMUP_SECONDS)
        rounds: dict[str, list[dict[str, Any]]] = {server: [] for server in order}
        for number in range(http.ROUNDS):
            for server in order if number % 2 == 0 else reversed(order):
                rounds[server].append(self.round(self.servers[server], "item", http.SECONDS))
        return rounds

    def in_process_item(self, name: str, count: int) -> dict[str, list[float]]:
        """Run ``asgi_auth_interleaved.py`` with ``name``'s settings: CPU seconds per request."""
        env = {**os.environ, **self.env[name], "PYTHONPATH": self.env["open"]["PYTHONPATH"]}
        done = subprocess.run(
            [
                sys.executable,
                str(HERE / "asgi_auth_interleaved.py"),
                str(count),
                self.token,
                str(self.ids_file),
            ],
            env=env,
            cwd=http.ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, f"the in-process run failed:\n{done.stderr[-3000:]}"
        cpu = json.loads(done.stdout.strip().splitlines()[-1])
        return {name: cpu["hexkernel"], "open": cpu["baseline"]}


@pytest.fixture(scope="module")
def auth_bench(mongo_uri: str) -> Iterator[AuthBench]:
    http.require_wrk()
    with tempfile.TemporaryDirectory() as workdir:
        made = AuthBench(mongo_uri, Path(workdir))
        try:
            made.start()
            yield made
        finally:
            made.close()


def _rps(run: dict[str, Any]) -> float:
    return float(run["requests"] / run["duration_us"] * 1e6)


def _summary(name: str, rounds: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Each server's requests/s and CPU per request; authenticated / open ratios."""
    out: dict[str, Any] = {"rounds": http.ROUNDS, "seconds": http.SECONDS}
    for server, runs in rounds.items():
        requests = sum(r["requests"] for r in runs)
        out[server] = {
            "requests": requests,
            "rps_median": statistics.median(_rps(r) for r in runs),
            "cpu_us_per_request": sum(r["cpu_s"] for r in runs) / requests * 1e6,
            "p50_ms_median": statistics.median(r["p50_us"] for r in runs) / 1000,
        }
    ours, theirs = out[name], out["open"]
    out["rps_ratio"] = ours["rps_median"] / theirs["rps_median"]
    out["rps_ratio_rounds"] = [
        _rps(a) / _rps(b) for a, b in zip(rounds[name], rounds["open"], strict=True)
    ]
    out["cpu_ratio"] = ours["cpu_us_per_request"] / theirs["cpu_us_per_request"]
    out["goal"] = GOAL
    return out


def _table(name: str, summary: dict[str, Any]) -> str:
    heading = (
        f"\nHTTP GET /tasks/{{id}}, {AUTHENTICATED[name]} against open: {summary['rounds']} "
        f"rounds x {summary['seconds']:g} s per app, {http.CONNECTIONS['item']} connections"
    )
    rows = [
        heading,
        f"  {'server':<14} {'req/s (median)':>15} {'CPU us/req':>11} {'p50 ms':>7} {'requests':>9}",
    ]
    for server in (name, "open"):
        app = summary[server]
        rows.append(
            f"  {server:<14} {app['rps_median']:>15.0f} {app['cpu_us_per_request']:>11.0f} "
            f"{app['p50_ms_median']:>7.1f} {app['requests']:>9}"
        )
    verdict = "met" if summary["rps_ratio"] >= GOAL else "MISSED"
    if name != GOAL_SERVER:
        verdict = f"{verdict}; for information, the goal is about the example as shipped"
    per_round = ", ".join(f"{r:.2f}" for r in summary["rps_ratio_rounds"])
    rows.append(
        f"  {name}/open: req/s x{summary['rps_ratio']:.2f} (goal >= x{GOAL:.2f}: {verdict}); "
        f"CPU per request x{summary['cpu_ratio']:.2f} (CPU-bound throughput "
        f"x{1 / summary['cpu_ratio']:.2f})"
    )
    rows.append(
        f"  req/s per round pair: median x{statistics.median(summary['rps_ratio_rounds']):.2f}; "
        f"{per_round}"
    )
    return "\n".join(rows) + "\n"


def _run(name: str, bench: AuthBench, benchmark: Any, capsys: pytest.CaptureFixture[str]) -> None:
    measured: dict[str, Any] = {}

    def measure() -> None:
        measured.update(_summary(name, bench.measure_against_open(name)))

    benchmark.pedantic(measure, rounds=1, iterations=1)
    benchmark.extra_info.update(measured)
    with capsys.disabled():
        sys.stdout.write(_table(name, measured))


@pytest.mark.benchmark(group="http auth: GET /tasks/{id}, as shipped")
def test_item_auth_as_shipped(auth_bench, benchmark, capsys):
    _run("authenticated", auth_bench, benchmark, capsys)


@pytest.mark.benchmark(group="http auth: GET /tasks/{id}, per-request lookup")
def test_item_per_request_lookup(auth_bench, benchmark, capsys):
    _run("per_request", auth_bench, benchmark, capsys)


@pytest.mark.benchmark(group="http auth: in process, ASGI only")
def test_item_in_process(auth_bench, benchmark, capsys):
    """Each authenticated app's CPU per request against the open one's, alternating calls."""
    measured: dict[str, Any] = {}

    def measure() -> None:
        for name in AUTHENTICATED:
            cpu = auth_bench.in_process_item(name, IN_PROCESS_REQUESTS)
            means = {server: statistics.mean(times) * 1e6 for server, times in cpu.items()}
            measured[name] = {
                "requests": IN_PROCESS_REQUESTS,
                "mean_us": means,
                "cpu_ratio": means[name] / means["open"],
            }

    benchmark.pedantic(measure, rounds=1, iterations=1)
    benchmark.extra_info.update(measured)
    rows = ["\nIn process (ASGI calls, alternating per request): GET /tasks/{id}, CPU us/request"]
    rows.append(f"  {'settings':<20} {'requests':>9} {'open':>7} {'auth':>7} {'ratio':>6}")
    for name, figures in measured.items():
        rows.append(
            f"  {AUTHENTICATED[name]:<20} {figures['requests']:>9} "
            f"{figures['mean_us']['open']:>7.0f} {figures['mean_us'][name]:>7.0f} "
            f"{figures['cpu_ratio']:>6.2f}"
        )
    with capsys.disabled():
        sys.stdout.write("\n".join(rows) + "\n")
