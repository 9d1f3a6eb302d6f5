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
