"""The MongoDB refresh-token store passes the store contract over a real server."""

import secrets

import pytest
from hk_testing.security_contracts import NOW, RefreshTokenStoreContract, _record

from hexkernel.adapters.security.mongo_refresh_tokens import MongoRefreshTokenStore
from hexkernel.adapters.security.refresh_tokens import token_digest

pytestmark = pytest.mark.integration


@pytest.fixture
def store(mongo_db):
    return MongoRefreshTokenStore(mongo_db)


class TestMongoRefreshTokenStore(RefreshTokenStoreContract):
    pass


@pytest.mark.anyio
async def test_the_collection_holds_only_a_digest(store, mongo_db):
    token = secrets.token_urlsafe(32)
    await store.add(token, _record())
    documents = await mongo_db["refresh_tokens"].find().to_list()
    assert [d["_id"] for d in documents] == [token_digest(token)]
    assert token not in repr(documents)
    indexes = await mongo_db["refresh_tokens"].index_information()
    assert indexes["expires_at_ttl"]["expireAfterSeconds"] == 0
    await store.consume(token, now=NOW)
