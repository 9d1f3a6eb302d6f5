"""The repository and unit-of-work contracts on the in-memory adapters."""

import pytest

pytest.register_assert_rewrite("hk_testing.contracts")

from hk_testing import contracts  # noqa: E402 - imported once its asserts are rewritten
from hk_testing.persistence_models import Chore  # noqa: E402

from hexkernel.core.errors import InvalidAggregation  # noqa: E402
from hexkernel.core.query import Pipeline, RawStage  # noqa: E402


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


class TestBucketAutoRule:
    """MongoDB's ``$bucketAuto`` rule, which the in-memory store computes itself.

    (The MongoDB adapter hands the stage to the server, so this is the
    emulation's own test; the shared contract checks what both stores agree on.)
    """

    pytestmark = pytest.mark.anyio

    async def test_equal_values_stay_together_and_fill_fewer_buckets(self):
        repo = contracts.MemoryBackend().repository(Chore)
        await repo.insert_many(
            [Chore(title=f"c{i}", priority=p) for i, p in enumerate([1, 1, 2, 2, 2, 3, 4, 5])]
        )

        def bucket_auto(buckets):
            spec = {"groupBy": "$priority", "buckets": buckets}
            return Pipeline((RawStage("$bucketAuto", spec),))

        two = [{"_id": {"min": 1, "max": 3}, "count": 5}, {"_id": {"min": 3, "max": 5}, "count": 3}]
        assert await repo.aggregate(bucket_auto(2)) == two
        assert await repo.aggregate(bucket_auto(3)) == two, "equal values fill the buckets"

    async def test_granularity_is_refused_with_a_clear_error(self):
        repo = contracts.MemoryBackend().repository(Chore)
        await repo.insert(Chore(title="c", priority=1))
        spec = {"groupBy": "$priority", "buckets": 2, "granularity": "R5"}

        with pytest.raises(InvalidAggregation, match="granularity"):
            await repo.aggregate(Pipeline((RawStage("$bucketAuto", spec),)))
