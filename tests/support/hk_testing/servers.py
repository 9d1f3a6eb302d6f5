"""Real HTTP servers for end-to-end tests: an ASGI app under uvicorn on a free port."""

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import uvicorn

__all__ = ("free_port", "serve")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def serve(
    app: Any, *, client_timeout: float = 10, **config: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """Run ``app`` under uvicorn on a free port (its lifespan too); yield an httpx client for it.

    ``config`` overrides uvicorn's options (``log_level``, ``log_config``, ...).
    """
    port = free_port()
    options: dict[str, Any] = {"log_level": "warning", "lifespan": "on", **config}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **options))
    serving = asyncio.create_task(server.serve())
    for _ in range(250):
        if server.started or serving.done():
            break
        await asyncio.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=client_timeout
        ) as http:
            yield http
    finally:
        server.should_exit = True
        await serving
