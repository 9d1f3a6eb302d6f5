"""The MongoDB refresh-token store: shared by every instance of a service.

Each document is ``{_id: sha256(token), family, subject, client_id, scopes,
expires_at, used, revoked}``: the token itself is never stored. Spending a
token is one ``find_one_and_update`` that matches only an unused, unrevoked,
unexpired token, so two instances cannot both spend it. A TTL index removes
expired documents; an index on ``family`` makes revocation cheap.
"""

import datetime as dt
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from hexkernel.adapters.mongo.errors import translated
from hexkernel.adapters.security.refresh_tokens import token_digest
from hexkernel.core.errors import InvalidToken, RefreshTokenReused
from hexkernel.core.ports.security import RefreshRecord

__all__ = ("MongoRefreshTokenStore",)

_NAME = "RefreshToken"


class MongoRefreshTokenStore:
    """Refresh tokens in a MongoDB collection (the ``RefreshTokenStore`` port).

    Args:
        database: The service's database.
        collection: The collection's name.
    """

    def __init__(self, database: AsyncDatabase[Any], collection: str = "refresh_tokens") -> None:
        self._collection = database[collection]
        self._indexed = False

    async def _ensure_indexes(self) -> None:
        if self._indexed:
            return
        with translated(_NAME):
            await self._collection.create_index([("family", ASCENDING)], name="family")
            await self._collection.create_index(
                [("expires_at", ASCENDING)], name="expires_at_ttl", expireAfterSeconds=0
            )
        self._indexed = True

    async def add(self, token: str, record: RefreshRecord) -> None:
        """Remember a newly issued refresh ``token``."""
        await self._ensure_indexes()
        document = {
            "_id": token_digest(token),
            "family": record.family,
            "subject": record.subject,
            "client_id": record.client_id,
            "scopes": sorted(record.scopes),
            "expires_at": record.expires_at,
            "used": False,
            "revoked": False,
        }
        with translated(_NAME):
            await self._collection.insert_one(document)

    async def consume(self, token: str, *, now: dt.datetime) -> RefreshRecord:
        """Spend ``token``; see the port for the errors."""
        digest = token_digest(token)
        with translated(_NAME):
            spent = await self._collection.find_one_and_update(
                {"_id": digest, "used": False, "revoked": False, "expires_at": {"$gt": now}},
                {"$set": {"used": True, "used_at": now}},
            )
            if spent is not None:
                return _record(spent)
            found = await self._collection.find_one({"_id": digest})
        if found is None:
            raise InvalidToken("unknown", "the refresh token is not known")
        if found.get("revoked"):
            raise InvalidToken("revoked", "the refresh token was revoked")
        if found.get("used"):
            raise RefreshTokenReused(str(found["family"]))
        raise InvalidToken("expired", "the refresh token has expired")

    async def revoke_family(self, family: str) -> int:
        """Revoke every token of ``family``; return how many were still usable."""
        with translated(_NAME):
            usable = await self._collection.count_documents(
                {"family": family, "revoked": False, "used": False}
            )
            await self._collection.update_many(
                {"family": family, "revoked": False}, {"$set": {"revoked": True}}
            )
        return usable


def _record(document: dict[str, Any]) -> RefreshRecord:
    expires = document["expires_at"]
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=dt.UTC)
    return RefreshRecord(
        family=str(document["family"]),
        subject=str(document["subject"]),
        client_id=str(document["client_id"]),
        scopes=frozenset(document.get("scopes", ())),
        expires_at=expires,
    )
