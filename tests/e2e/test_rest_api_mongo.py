"""The HTTP contract over real HTTP (uvicorn on a free port, httpx) against MongoDB."""

import asyncio
import socket
import uuid

import httpx
import pytest
import uvicorn

pytest.register_assert_rewrite("hk_testing.rest_contract")

from hk_testing.rest_contract import (  # noqa: E402 - after the assert rewrite registration
    TestActionsAndHooks,
    TestOpenApi,
    TestReading,
    TestRequestIds,
    TestSearchAndAggregate,
    TestWriting,
    build_app,
    contract_settings,
)

from hexkernel.adapters.mongo import connect  # noqa: E402
from hexkernel.interfaces.config import Secret  # noqa: E402

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

__all__ = (
    "TestActionsAndHooks",
    "TestOpenApi",
    "TestReading",
    "TestRequestIds",
    "TestSearchAndAggregate",
    "TestWriting",
)


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
async def client(mongo_uri):
    database = f"hk_rest_{uuid.uuid4().hex}"
    app = build_app(contract_settings(uri=Secret(mongo_uri), database=database))
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    serving = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            yield http
    finally:
        server.should_exit = True
        await serving
        mongo = connect(mongo_uri)
        try:
            await mongo.drop_database(database)
        finally:
            await mongo.close()


@pytest.fixture(scope="session")
def counts_text_searches(mongo_uri):
    """Whether the server counts ``$text`` queries (MongoDB does; some test servers do not)."""
    from pymongo import MongoClient
    from pymongo.errors import OperationFailure

    with MongoClient(mongo_uri) as client:
        probe = client[f"hk_probe_{uuid.uuid4().hex}"]["probe"]
        probe.create_index([("t", "text")])
        try:
            probe.count_documents({"$text": {"$search": "x"}})
        except OperationFailure:
            return False
        finally:
            client.drop_database(probe.database.name)
    return True
