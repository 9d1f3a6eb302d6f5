"""Concurrent writers on one MongoDB document: optimistic locking lets exactly one win."""

import pytest

pytest.register_assert_rewrite("hk_testing.contracts")

from hk_testing import contracts  # noqa: E402 - imported once its asserts are rewritten

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


@pytest.fixture
async def backend(mongo_uri):
    async with contracts.mongo_backend(mongo_uri) as opened:
        yield opened


class TestConcurrentSave(contracts.ConcurrentSaveContract):
    pass


def test_every_concurrency_contract_runs_on_mongodb():
    assert contracts.uncovered(globals(), contracts.CONCURRENCY_CONTRACTS) == []
