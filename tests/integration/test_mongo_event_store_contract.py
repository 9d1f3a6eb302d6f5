"""The event-store contracts on MongoDB."""

import pytest

pytest.register_assert_rewrite("hk_testing.event_store_contracts")

pytest.register_assert_rewrite("hk_testing.projection_contracts")

from hk_testing import event_store_contracts as contracts  # noqa: E402 - after the rewrite hook
from hk_testing import projection_contracts  # noqa: E402 - after the rewrite hook

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


@pytest.fixture
async def es_backend(mongo_uri):
    async with contracts.mongo_event_backend(mongo_uri) as backend:
        yield backend


class TestAppendAndRead(contracts.AppendAndReadContract):
    pass


class TestConcurrency(contracts.ConcurrencyContract):
    pass


class TestGlobalLog(contracts.GlobalLogContract):
    pass


class TestUnitOfWork(contracts.UnitOfWorkContract):
    pass


class TestSnapshot(contracts.SnapshotContract):
    pass


class TestUpcast(contracts.UpcastContract):
    pass


class TestProjection(projection_contracts.ProjectionContract):
    pass


def test_every_event_store_contract_runs_on_mongodb():
    assert contracts.uncovered(globals(), contracts.EVENT_STORE_CONTRACTS) == []
    assert contracts.uncovered(globals(), projection_contracts.PROJECTION_CONTRACTS) == []
