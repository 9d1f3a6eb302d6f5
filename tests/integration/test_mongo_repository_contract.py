"""The repository and unit-of-work contracts on MongoDB, and what only MongoDB does."""

import pytest

pytest.register_assert_rewrite("hk_testing.contracts")

from bson import Binary, Decimal128  # noqa: E402 - imports follow the rewrite hook
from bson.codec_options import CodecOptions  # noqa: E402
from hk_testing import contracts  # noqa: E402
from hk_testing.persistence_models import Account, Sample  # noqa: E402
from pymongo.errors import WriteError  # noqa: E402

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

DOCUMENT_VALIDATION_FAILURE = 121


@pytest.fixture
async def backend(mongo_uri):
    async with contracts.mongo_backend(mongo_uri) as opened:
        yield opened


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


def test_every_repository_contract_runs_on_mongodb():
    assert contracts.uncovered(globals(), contracts.REPOSITORY_CONTRACTS) == []


class TestSchemaValidation:
    async def test_sync_reports_the_schema_as_applied(self, backend):
        report = await backend.repository(Account).sync()

        assert report.schema_applied is True

    async def test_after_sync_the_collection_rejects_an_invalid_document(self, backend):
        await backend.repository(Account).sync()
        raw = backend.database["accounts"]
        valid = Account(email="ada@example.com", team="core").to_document()
        invalid = Account(email="bob@example.com", team="core").to_document()
        invalid["priority"] = "high"

        await raw.insert_one(valid)
        with pytest.raises(WriteError) as caught:
            await raw.insert_one(invalid)

        assert caught.value.code == DOCUMENT_VALIDATION_FAILURE
        assert await raw.count_documents({}) == 1


class TestStorageForm:
    async def test_values_are_stored_as_native_bson_types(self, backend):
        sample = await backend.repository(Sample).insert(contracts.make_sample())
        plain = backend.database.with_options(codec_options=CodecOptions(tz_aware=True))

        stored = await plain["samples"].find_one({"_id": sample.id})

        assert stored is not None
        assert stored["amount"] == Decimal128("1234.5678")
        assert stored["lines"][0]["price"] == Decimal128("9.99")
        assert stored["ref"] == Binary.from_uuid(sample.ref)
        assert stored["ref"].subtype == 4
        assert stored["day"] == contracts.dt.datetime(1999, 12, 31, tzinfo=contracts.dt.UTC)
        assert stored["moment"] == sample.moment
        assert stored["status"] == "doing"
        assert stored["version"] == 1
        assert "id" not in stored
