"""The repository and unit-of-work contracts on the in-memory adapters."""

import pytest

pytest.register_assert_rewrite("hk_testing.contracts")

from hk_testing import contracts  # noqa: E402 - imported once its asserts are rewritten
from hk_testing.persistence_models import Chore  # noqa: E402


@pytest.fixture
def backend():
    return contracts.MemoryBackend()


class TestPorts(contracts.PortsContract):
    pass


class TestInsert(contracts.InsertContract):
    pass


class TestRoundTrip(contracts.RoundTripContract):
    pass


class TestFind(contracts.FindContract):
    pass


class TestSortAndPage(contracts.SortAndPageContract):
    pass


class TestProjection(contracts.ProjectionContract):
    pass


class TestSave(contracts.SaveContract):
    pass


class TestDelete(contracts.DeleteContract):
    pass


class TestUpdate(contracts.UpdateContract):
    pass


class TestInsertMany(contracts.InsertManyContract):
    pass


class TestPredefinedFilter(contracts.PredefinedFilterContract):
    pass


class TestIndex(contracts.IndexContract):
    pass


class TestUnitOfWork(contracts.UnitOfWorkContract):
    pass


class TestActiveRecord(contracts.ActiveRecordContract):
    pass


class TestSearch(contracts.SearchContract):
    pass


class TestAggregate(contracts.AggregateContract):
    pass


class TestConcurrentSave(contracts.ConcurrentSaveContract):
    pass


def test_every_contract_runs_on_the_memory_adapter():
    every = contracts.REPOSITORY_CONTRACTS + contracts.CONCURRENCY_CONTRACTS

    assert contracts.uncovered(globals(), every) == []


class TestStoreIsolation:
    pytestmark = pytest.mark.anyio

    async def test_two_stores_share_nothing(self):
        first, second = contracts.MemoryBackend(), contracts.MemoryBackend()

        await first.repository(Chore).insert(Chore(title="Only here"))

        assert await first.repository(Chore).count() == 1
        assert await second.repository(Chore).count() == 0
