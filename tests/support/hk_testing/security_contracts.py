"""The contract of the ``RefreshTokenStore`` port, run against every store.

A test module provides an async fixture ``store`` (a fresh, empty store) and
subclasses :class:`RefreshTokenStoreContract` under a ``Test`` name.
"""

import asyncio
import datetime as dt
import secrets
import uuid

import pytest

from hexkernel.core.errors import InvalidToken, RefreshTokenReused
from hexkernel.core.ports.security import RefreshRecord, RefreshTokenStore

__all__ = ("RefreshTokenStoreContract",)

# Real time (a TTL index may remove documents that expired by the wall clock),
# at whole seconds (MongoDB keeps milliseconds).
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(minutes=5)


def _record(family: str | None = None, *, expires_in: int = 3600) -> RefreshRecord:
    return RefreshRecord(
        family=family or uuid.uuid4().hex,
        subject="usr_1",
        client_id="web",
        scopes=frozenset({"tasks:read", "tasks:write"}),
        expires_at=NOW + dt.timedelta(seconds=expires_in),
    )


def _token() -> str:
    return secrets.token_urlsafe(32)


@pytest.mark.anyio
class RefreshTokenStoreContract:
    async def test_is_a_refresh_token_store(self, store):
        assert isinstance(store, RefreshTokenStore)

    async def test_a_token_is_spent_once(self, store):
        token, record = _token(), _record()
        await store.add(token, record)
        assert await store.consume(token, now=NOW) == record
        with pytest.raises(RefreshTokenReused) as caught:
            await store.consume(token, now=NOW)
        assert caught.value.family == record.family
        assert caught.value.reason == "reused"

    async def test_an_unknown_token_is_refused(self, store):
        with pytest.raises(InvalidToken) as caught:
            await store.consume(_token(), now=NOW)
        assert caught.value.reason == "unknown"

    async def test_an_expired_token_is_refused(self, store):
        token = _token()
        await store.add(token, _record(expires_in=60))
        with pytest.raises(InvalidToken) as caught:
            await store.consume(token, now=NOW + dt.timedelta(seconds=61))
        assert caught.value.reason == "expired"

    async def test_revoking_a_family_refuses_all_its_tokens_and_no_other(self, store):
        family = uuid.uuid4().hex
        spent, fresh, other = _token(), _token(), _token()
        await store.add(spent, _record(family))
        await store.add(fresh, _record(family))
        await store.add(other, _record())
        await store.consume(spent, now=NOW)
        assert await store.revoke_family(family) == 1
        for token in (spent, fresh):
            with pytest.raises(InvalidToken) as caught:
                await store.consume(token, now=NOW)
            assert caught.value.reason == "revoked"
        assert (await store.consume(other, now=NOW)).subject == "usr_1"
        assert await store.revoke_family(family) == 0

    async def test_concurrent_spends_succeed_once(self, store):
        token = _token()
        await store.add(token, _record())

        async def spend():
            try:
                await store.consume(token, now=NOW)
            except RefreshTokenReused:
                return False
            return True

        results = await asyncio.gather(*(spend() for _ in range(10)))
        assert sorted(results) == [False] * 9 + [True]

    async def test_the_record_round_trips(self, store):
        token, record = _token(), _record()
        await store.add(token, record)
        back = await store.consume(token, now=NOW)
        assert back.expires_at == record.expires_at
        assert back.expires_at.tzinfo is not None
        assert back.scopes == record.scopes
