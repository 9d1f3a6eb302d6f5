"""The HTTP contract over real HTTP (uvicorn on a free port, httpx) against MongoDB."""

import uuid

import pytest

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
from hk_testing.servers import serve  # noqa: E402

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


@pytest.fixture
async def client(mongo_uri):
    database = f"hk_rest_{uuid.uuid4().hex}"
    app = build_app(contract_settings(uri=Secret(mongo_uri), database=database))
    try:
        async with serve(app) as http:
            yield http
    finally:
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
