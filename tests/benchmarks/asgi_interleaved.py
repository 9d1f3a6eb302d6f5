"""Both apps of the HTTP benchmark in one process, called as ASGI apps, requests alternating.

``test_http.py`` runs this script in a subprocess, after its wrk rounds, on
the same databases. It loads the taskboard example and ``http_baseline`` in
one interpreter, runs their start-ups on one event loop, then sends each
request straight to the ASGI callables (no uvicorn, no HTTP parsing, no
sockets between client and app) one at a time, alternating between the two
apps request by request, and takes the thread's CPU time around every call.
Waiting on the database costs no CPU time, and consecutive requests of the two
apps are a few milliseconds apart, so a change in the machine's load hits
both alike: the figure is the application's own CPU cost per request, with
the server and the kernel's share (the same for both apps) left out.

Usage (the environment carries both apps' settings, as for the servers)::

    python asgi_interleaved.py ROUTE COUNT TOKEN IDS_FILE BODY_FILE

It prints one JSON line: the CPU seconds of every request, per app.
"""

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from http_baseline import app as baseline
from taskboard.app import app as hexkernel


async def _call(
    app: Any, method: str, path: str, token: str, *, query: bytes = b"", body: bytes = b""
) -> int:
    headers = [(b"host", b"bench"), (b"authorization", f"Bearer {token}".encode())]
    if body:
        headers += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(sent[0]["status"])


async def _lifespan(app: Any) -> tuple[asyncio.Queue[Any], asyncio.Queue[Any], asyncio.Task[Any]]:
    inbox: asyncio.Queue[Any] = asyncio.Queue()
    outbox: asyncio.Queue[Any] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    task = asyncio.create_task(app({"type": "lifespan"}, inbox.get, outbox.put))
    started = await outbox.get()
    assert started["type"] == "lifespan.startup.complete", started
    return inbox, outbox, task


async def main(route: str, count: int, token: str, ids: list[str], body: bytes) -> None:
    """Measure ``count`` requests of ``route`` on each app; print the CPU times as JSON."""
    apps = {"hexkernel": hexkernel, "baseline": baseline}
    lifespans = [await _lifespan(app) for app in apps.values()]
    expected = 201 if route == "create" else 200

    async def one(app: Any, number: int) -> int:
        if route == "item":
            return await _call(app, "GET", f"/tasks/{ids[number % len(ids)]}", token)
        if route == "list":
            return await _call(app, "GET", "/tasks", token, query=b"status=open&sort=-priority")
        return await _call(app, "POST", "/tasks", token, body=body)

    for number in range(20):  # warm-up
        for app in apps.values():
            await one(app, number)
    cpu: dict[str, list[float]] = {name: [] for name in apps}
    for number in range(count):
        names = list(apps) if number % 2 == 0 else list(reversed(apps))
        for name in names:
            start = time.thread_time()
            status = await one(apps[name], number)
            cpu[name].append(time.thread_time() - start)
            assert status == expected, f"{name} answered {status} to {route}"
    for inbox, outbox, task in lifespans:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await task
    sys.stdout.write(json.dumps(cpu) + "\n")


if __name__ == "__main__":
    route_, count_, token_, ids_file, body_file = sys.argv[1:6]
    ids_ = Path(ids_file).read_text().split()
    asyncio.run(main(route_, int(count_), token_, ids_, Path(body_file).read_bytes()))
