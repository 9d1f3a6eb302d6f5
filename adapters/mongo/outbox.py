"""The MongoDB outbox and inbox.

Collections (names start with ``prefix``, ``hk_`` by default):

* ``outbox``: one document per message, keyed by message id, with an index on
  ``(sent, _id)`` for the relay's query;
* ``inbox``: one document per handled message and consumer.

:meth:`MongoOutboxStore.add` and :meth:`MongoInbox.record` write through the
session of a :class:`~hexkernel.adapters.mongo.MongoUnitOfWork`, inside its
transaction. A claim is two single-collection writes outside any transaction:
the relay finds the oldest free entries, then sets its name and lease on those
that are *still* free (``update_many`` with the same condition, atomic per
document), and reads back those it won. Two relays racing for an entry cannot
both win it, because the second update no longer matches it.
"""

import datetime as dt
from collections.abc import Sequence
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from hexkernel.adapters._documents import utcnow
from hexkernel.adapters._outbox_records import (
    inbox_key,
    inbox_record,
    outbox_message,
    outbox_record,
)
from hexkernel.adapters.mongo.errors import translated
from hexkernel.core.ids import new_id
from hexkernel.core.ports.outbox import OutboxMessage
from hexkernel.core.ports.unit_of_work import UnitOfWork

__all__ = ("MongoInbox", "MongoOutboxStore")


def _session(uow: UnitOfWork, what: str) -> AsyncClientSession:
    session = getattr(uow, "session", None)
    if not isinstance(session, AsyncClientSession):
        raise TypeError(f"the MongoDB {what} cannot join {type(uow).__name__}")
    return session


class MongoOutboxStore:
    """The :class:`~hexkernel.core.ports.outbox.OutboxStore` on MongoDB.

    Args:
        database: The service's database (the one its unit of work writes to).
        prefix: Prefix of the collection name (``<prefix>outbox``).
    """

    def __init__(self, database: AsyncDatabase[Any], *, prefix: str = "hk_") -> None:
        self._collection = database[f"{prefix}outbox"]
        self._ready = False

    def __repr__(self) -> str:
        return f"<MongoOutboxStore {self._collection.full_name}>"

    async def ensure_indexes(self) -> None:
        """Create the relay's index (once per store object; at start-up, or before the first add).

        The index is created outside any transaction; a server may refuse to
        change a collection that an open transaction writes to, so the claims
        of a relay never create it.
        """
        if not self._ready:
            with translated("Outbox"):
                await self._collection.create_index(
                    [("sent", ASCENDING), ("_id", ASCENDING)], name="unsent"
                )
            self._ready = True

    async def add(self, messages: Sequence[OutboxMessage], *, uow: UnitOfWork) -> None:
        """Insert ``messages`` in the unit of work's transaction."""
        session = _session(uow, "outbox")
        await self.ensure_indexes()
        if messages:
            with translated("Outbox"):
                await self._collection.insert_many(
                    [outbox_record(m) for m in messages], session=session
                )

    async def claim(
        self, owner: str, *, limit: int = 100, lease: float = 30.0
    ) -> list[OutboxMessage]:
        """Claim the oldest free entries: find them, then take those still free."""
        now = utcnow()
        free = {
            "sent": False,
            "$or": [{"claimed_until": None}, {"claimed_until": {"$lte": now}}],
        }
        token = new_id("clm")
        with translated("Outbox"):
            found = self._collection.find(free, {"_id": 1}).sort("_id", ASCENDING).limit(limit)
            ids = [document["_id"] async for document in found]
            if not ids:
                return []
            await self._collection.update_many(
                {"_id": {"$in": ids}, **free},
                {
                    "$set": {
                        "claimed_by": owner,
                        "claim": token,
                        "claimed_until": now + dt.timedelta(seconds=lease),
                    }
                },
            )
            won = self._collection.find({"_id": {"$in": ids}, "claim": token}).sort(
                "_id", ASCENDING
            )
            return [outbox_message(document) async for document in won]

    async def mark_sent(self, message_ids: Sequence[str]) -> None:
        """Mark entries sent and drop their claims."""
        if message_ids:
            with translated("Outbox"):
                await self._collection.update_many(
                    {"_id": {"$in": list(message_ids)}},
                    {
                        "$set": {
                            "sent": True,
                            "sent_at": utcnow(),
                            "claimed_by": None,
                            "claimed_until": None,
                        }
                    },
                )

    async def release(self, owner: str, message_ids: Sequence[str]) -> None:
        """Drop ``owner``'s claims on unsent entries."""
        if message_ids:
            with translated("Outbox"):
                await self._collection.update_many(
                    {"_id": {"$in": list(message_ids)}, "sent": False, "claimed_by": owner},
                    {"$set": {"claimed_by": None, "claimed_until": None}},
                )

    async def unsent(self) -> int:
        """How many entries are not sent."""
        with translated("Outbox"):
            return await self._collection.count_documents({"sent": False})

    async def purge_sent(self, before: dt.datetime) -> int:
        """Delete entries sent before ``before``."""
        with translated("Outbox"):
            result = await self._collection.delete_many({"sent": True, "sent_at": {"$lt": before}})
        return result.deleted_count


class MongoInbox:
    """The :class:`~hexkernel.core.ports.outbox.Inbox` on MongoDB.

    The record is read and inserted in the consumer's transaction. Two
    transactions recording the same message concurrently conflict on its
    ``_id`` (a transient write conflict, or a duplicate key), so at most one
    commits; run again, the other finds the record.

    Args:
        database: The service's database.
        prefix: Prefix of the collection name (``<prefix>inbox``).
    """

    def __init__(self, database: AsyncDatabase[Any], *, prefix: str = "hk_") -> None:
        self._collection = database[f"{prefix}inbox"]

    def __repr__(self) -> str:
        return f"<MongoInbox {self._collection.full_name}>"

    async def record(self, consumer: str, message_id: str, *, uow: UnitOfWork) -> bool:
        """Record the message in the transaction; ``False`` if it is recorded already."""
        session = _session(uow, "inbox")
        key = inbox_key(consumer, message_id)
        with translated("Inbox"):
            if await self._collection.find_one({"_id": key}, {"_id": 1}, session=session):
                return False
            await self._collection.insert_one(
                inbox_record(consumer, message_id, utcnow()), session=session
            )
        return True

    async def handled(self, consumer: str, message_id: str) -> bool:
        """Whether a committed record exists."""
        with translated("Inbox"):
            found = await self._collection.find_one({"_id": inbox_key(consumer, message_id)})
        return found is not None
