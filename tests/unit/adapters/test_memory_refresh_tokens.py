"""The in-memory refresh-token store passes the store contract."""

import secrets

import pytest
from hk_testing.security_contracts import NOW, RefreshTokenStoreContract, _record

from hexkernel.adapters.security import InMemoryRefreshTokenStore


@pytest.fixture
def store():
    return InMemoryRefreshTokenStore()


class TestInMemoryRefreshTokenStore(RefreshTokenStoreContract):
    pass


@pytest.mark.anyio
async def test_only_a_digest_of_the_token_is_kept(store):
    token = secrets.token_urlsafe(32)
    await store.add(token, _record())
    assert len(store) == 1
    assert token not in repr(vars(store))
    await store.consume(token, now=NOW)
