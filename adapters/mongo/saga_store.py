"""The MongoDB saga store: one document per saga instance, shared by every coordinator.

The document is :meth:`SagaState.to_document` with ``_id`` set to the
instance's id. A save is one ``replace_one`` filtered on ``{_id, version}``:
the server applies it only if the version is still the one the coordinator
read, so of two coordinators saving the same instance exactly one succeeds,
with no transaction needed. Indexes on ``(status, wake_at)`` and
``(type, created_at)`` serve the resume loop and the inspection queries.
"""

import datetime as dt
from collections.abc import Iterable
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from hexkernel.adapters.mongo.errors import translated
from hexkernel.core.errors import ConcurrencyConflict, NotFound
from hexkernel.core.sagas import SagaState, SagaStatus

__all__ = ("MongoSagaStore",)

_NAME = "Saga"
_UNFINISHED = [str(SagaStatus.RUNNING), str(SagaStatus.COMPENSATING)]


class MongoSagaStore:
    """Saga instances in a MongoDB collection (the ``SagaStore`` port).

    Args:
        database: The service's database.
        collection: The collection's name.
    """

    def __init__(self, database: AsyncDatabase[Any], collection: str = "hk_sagas") -> None:
        self._collection = database[collection]
        self._indexed = False

    async def ensure_indexes(self) -> None:
        """Create the indexes (once per store object; also done by the first write)."""
        if self._indexed:
            return
        with translated(_NAME):
            await self._collection.create_index(
                [("status", ASCENDING), ("wake_at", ASCENDING)], name="status_wake_at"
            )
            await self._collection.create_index(
                [("type", ASCENDING), ("created_at", ASCENDING)], name="type_created_at"
            )
        self._indexed = True

    async def create(self, state: SagaState) -> SagaState:
        """Store a new instance; see the port."""
        await self.ensure_indexes()
        document = _document(state, 1)
        with translated(_NAME):
            await self._collection.insert_one(document)
        return SagaState.from_document(document)

    async def save(self, state: SagaState) -> SagaState:
        """Replace the instance at its expected version; see the port."""
        document = _document(state, state.version + 1)
        with translated(_NAME):
            replaced = await self._collection.replace_one(
                {"_id": state.id, "version": state.version}, document
            )
            if replaced.matched_count == 1:
                return SagaState.from_document(document)
            current = await self._collection.find_one({"_id": state.id}, {"version": 1})
        if current is None:
            raise NotFound(_NAME, state.id)
        raise ConcurrencyConflict(_NAME, state.id, state.version, current.get("version"))

    async def get(self, saga_id: str) -> SagaState:
        """The instance with id ``saga_id``; see the port."""
        with translated(_NAME):
            found = await self._collection.find_one({"_id": saga_id})
        if found is None:
            raise NotFound(_NAME, saga_id)
        return SagaState.from_document(found)

    async def find(
        self,
        *,
        status: SagaStatus | Iterable[SagaStatus] | None = None,
        saga_type: str | None = None,
        limit: int = 100,
    ) -> list[SagaState]:
        """Instances by status and type, oldest first; see the port."""
        query: dict[str, Any] = {}
        if status is not None:
            wanted = [str(status)] if isinstance(status, str) else [str(s) for s in status]
            query["status"] = {"$in": wanted}
        if saga_type is not None:
            query["type"] = saga_type
        with translated(_NAME):
            cursor = self._collection.find(query).sort([("created_at", 1), ("_id", 1)])
            found = await cursor.limit(limit).to_list()
        return [SagaState.from_document(d) for d in found]

    async def due(self, now: dt.datetime, *, limit: int = 100) -> list[SagaState]:
        """Unfinished instances due at ``now``; see the port."""
        query = {"status": {"$in": _UNFINISHED}, "wake_at": {"$ne": None, "$lte": now}}
        with translated(_NAME):
            cursor = self._collection.find(query).sort([("wake_at", 1), ("_id", 1)])
            found = await cursor.limit(limit).to_list()
        return [SagaState.from_document(d) for d in found]


def _document(state: SagaState, version: int) -> dict[str, Any]:
    document = state.to_document()
    document["_id"] = state.id
    document["version"] = version
    return document
