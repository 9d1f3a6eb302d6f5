"""Smoke test: the session's MongoDB answers real commands over the wire."""

import pytest
from pymongo.errors import DuplicateKeyError

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


async def test_a_document_round_trips_through_the_server(mongo_db):
    document = {"_id": "order-1", "total": 42, "lines": [{"sku": "A-1", "qty": 2}]}
    await mongo_db.orders.insert_one(dict(document))

    assert await mongo_db.orders.find_one({"_id": "order-1"}) == document


async def test_a_unique_index_rejects_a_duplicate_with_code_11000(mongo_db):
    await mongo_db.users.create_index("email", unique=True)
    await mongo_db.users.insert_one({"email": "ada@example.com"})

    with pytest.raises(DuplicateKeyError) as caught:
        await mongo_db.users.insert_one({"email": "ada@example.com"})

    assert caught.value.code == 11000
    assert await mongo_db.users.count_documents({}) == 1
