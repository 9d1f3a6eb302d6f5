"""The HTTP contract, in-process on the embedded store (Litestar's test client)."""

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
from litestar.testing import AsyncTestClient  # noqa: E402

pytestmark = pytest.mark.anyio

__all__ = (
    "TestActionsAndHooks",
    "TestOpenApi",
    "TestReading",
    "TestRequestIds",
    "TestSearchAndAggregate",
    "TestWriting",
)


@pytest.fixture
async def client():
    async with AsyncTestClient(build_app(contract_settings())) as test_client:
        yield test_client


@pytest.fixture
def counts_text_searches():
    return True


async def test_an_api_prefix_is_mounted_in_front_of_every_resource():
    from hexkernel.interfaces.config import HttpSettings, Settings

    app = build_app(Settings(http=HttpSettings(prefix="v1/")))
    async with AsyncTestClient(app) as client:
        created = await client.post("/v1/tasks", json={"title": "Prefixed"})
        assert created.status_code == 201, created.text
        key = created.json()["id"]
        assert created.headers["location"] == f"/v1/tasks/{key}"
        assert created.json()["_links"]["collection"] == {"href": "/v1/tasks"}
        listed = await client.get("/v1/tasks")
        assert listed.json()["_links"]["self"]["href"].startswith("/v1/tasks?")
        assert (await client.get(f"/v1/tasks/{key}")).status_code == 200
        assert (await client.get("/tasks")).status_code == 404
        document = (await client.get("/schema/openapi.json")).json()
        assert "/v1/tasks/{key}" in document["paths"]
