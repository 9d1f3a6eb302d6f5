"""The MongoDB saga store passes the saga-store contract over a real server."""

import pytest
from hk_testing.saga_store_contracts import SagaStoreContract, make_state

from hexkernel.adapters.mongo.saga_store import MongoSagaStore

pytestmark = pytest.mark.integration


@pytest.fixture
def saga_store(mongo_db):
    return MongoSagaStore(mongo_db)


class TestMongoSagaStore(SagaStoreContract):
    pass


@pytest.mark.anyio
async def test_one_document_per_instance_keyed_by_its_id(saga_store, mongo_db):
    state = make_state()
    await saga_store.create(state)
    documents = await mongo_db["hk_sagas"].find().to_list()
    assert [d["_id"] for d in documents] == [state.id]
    assert documents[0]["version"] == 1
    assert documents[0]["status"] == "running"
    indexes = await mongo_db["hk_sagas"].index_information()
    assert {"status_wake_at", "type_created_at"} <= set(indexes)
