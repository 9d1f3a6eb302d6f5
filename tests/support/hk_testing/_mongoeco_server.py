"""Run mongoeco's MongoDB wire server until told to stop.

This script is test support for hexkernel: ``hk_testing.mongo_server`` starts it with
the Python (>= 3.13) of a venv that has ``mongoeco[wire]`` installed. The test suite
never imports it.

It binds the server on ``--host`` (default 127.0.0.1) and ``--port`` (default 0: a free
port), prints the connection URI as one line on stdout, and serves until SIGTERM or
SIGINT arrives or its stdin reaches end of file. The last one means the parent is gone
(even killed), so an orphaned server never outlives its test run. Then it closes the
server and exits 0.

Usage:
    python _mongoeco_server.py [--host HOST] [--port PORT]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import threading

from mongoeco.wire import AsyncMongoEcoProxyServer


async def serve(host: str, port: int) -> None:
    """Serve MongoDB's wire protocol until a stop signal arrives or stdin closes.

    Args:
        host: The address to bind.
        port: The port to bind; 0 lets the system pick a free one.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    watcher = threading.Thread(target=_set_on_stdin_eof, args=(loop, stop), daemon=True)
    watcher.start()

    server = AsyncMongoEcoProxyServer(host=host, port=port)
    await server.start()
    try:
        print(server.address.uri, flush=True)
        await stop.wait()
    finally:
        await server.close()


def _set_on_stdin_eof(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Block until stdin reaches end of file, then set ``stop`` in the loop's thread.

    It reads the file descriptor, not ``sys.stdin``: a daemon thread blocked inside a
    buffered reader holds its lock, and the interpreter aborts at exit waiting for it.
    """
    with contextlib.suppress(OSError):
        while os.read(sys.stdin.fileno(), 4096):
            pass
    # The loop is closed when the server already stopped for another reason.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(stop.set)


def main() -> None:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(description="Run mongoeco's MongoDB wire server.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("--port", type=int, default=0, help="port to bind, 0 for any free one")
    arguments = parser.parse_args()
    asyncio.run(serve(arguments.host, arguments.port))


if __name__ == "__main__":
    main()
