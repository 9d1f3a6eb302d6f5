"""The in-memory outbox and inbox, in collections of the service's InMemoryStore.

Entries are written through an :class:`~hexkernel.adapters.memory.InMemoryUnitOfWork`,
so they become visible with its commit, together with the other writes of the
unit, or not at all. Claims, marks and purges change the committed collection
directly; each runs without an ``await``, so it is atomic with respect to
other tasks, and like every write to the store it replaces documents instead
of changing them, as the unit of work's commit check requires.
"""

import datetime as dt
from collections.abc import Sequence

from hexkernel.adapters._documents import utcnow
from hexkernel.adapters._outbox_records import (
    inbox_key,
    inbox_record,
    outbox_message,
    outbox_record,
)
from hexkernel.adapters.memory.store import InMemoryStore, _Table
from hexkernel.adapters.memory.unit_of_work import InMemoryUnitOfWork
from hexkernel.core.errors import DuplicateKey
from hexkernel.core.ports.outbox import OutboxMessage
from hexkernel.core.ports.unit_of_work import UnitOfWork

__all__ = ("InMemoryInbox", "InMemoryOutboxStore")


def _joined(uow: UnitOfWork, name: str, what: str) -> _Table:
    if not isinstance(uow, InMemoryUnitOfWork):
        raise TypeError(f"the in-memory {what} cannot join {type(uow).__name__}")
    return uow.table(name)


class InMemoryOutboxStore:
    """The :class:`~hexkernel.core.ports.outbox.OutboxStore` on an :class:`InMemoryStore`.

    Args:
        store: The service's store.
        prefix: Prefix of the collection name (``<prefix>outbox``).
    """

    def __init__(self, store: InMemoryStore, *, prefix: str = "hk_") -> None:
        self._store = store
        self._name = f"{prefix}outbox"

    def __repr__(self) -> str:
        return f"<InMemoryOutboxStore {self._name}>"

    async def add(self, messages: Sequence[OutboxMessage], *, uow: UnitOfWork) -> None:
        """Write ``messages`` in the unit of work's transaction."""
        table = _joined(uow, self._name, "outbox")
        for position, message in enumerate(messages):
            if message.message_id in table.documents:
                raise DuplicateKey("Outbox", ("id",), "_id_", position)
            table.documents[message.message_id] = outbox_record(message)

    async def claim(
        self, owner: str, *, limit: int = 100, lease: float = 30.0
    ) -> list[OutboxMessage]:
        """Claim the oldest unsent, unclaimed (or expired) entries."""
        documents = self._store.table(self._name).documents
        now = utcnow()
        until = now + dt.timedelta(seconds=lease)
        claimed = []
        for key in sorted(documents):
            if len(claimed) >= limit:
                break
            record = documents[key]
            if record["sent"] or (record["claimed_until"] and record["claimed_until"] > now):
                continue
            documents[key] = {**record, "claimed_by": owner, "claimed_until": until}
            claimed.append(outbox_message(record))
        return claimed

    async def mark_sent(self, message_ids: Sequence[str]) -> None:
        """Mark entries sent and drop their claims."""
        documents = self._store.table(self._name).documents
        now = utcnow()
        for key in message_ids:
            record = documents.get(key)
            if record is not None:
                documents[key] = {
                    **record,
                    "sent": True,
                    "sent_at": now,
                    "claimed_by": None,
                    "claimed_until": None,
                }

    async def release(self, owner: str, message_ids: Sequence[str]) -> None:
        """Drop ``owner``'s claims on unsent entries."""
        documents = self._store.table(self._name).documents
        for key in message_ids:
            record = documents.get(key)
            if record is not None and not record["sent"] and record["claimed_by"] == owner:
                documents[key] = {**record, "claimed_by": None, "claimed_until": None}

    async def unsent(self) -> int:
        """How many entries are not sent."""
        return sum(not r["sent"] for r in self._store.table(self._name).documents.values())

    async def purge_sent(self, before: dt.datetime) -> int:
        """Delete entries sent before ``before``."""
        documents = self._store.table(self._name).documents
        old = [k for k, r in documents.items() if r["sent"] and r["sent_at"] < before]
        for key in old:
            del documents[key]
        return len(old)


class InMemoryInbox:
    """The :class:`~hexkernel.core.ports.outbox.Inbox` on an :class:`InMemoryStore`.

    Two units of work recording the same message both write its key, so the
    later commit fails as a transient conflict (the store's commit check).

    Args:
        store: The service's store.
        prefix: Prefix of the collection name (``<prefix>inbox``).
    """

    def __init__(self, store: InMemoryStore, *, prefix: str = "hk_") -> None:
        self._store = store
        self._name = f"{prefix}inbox"

    def __repr__(self) -> str:
        return f"<InMemoryInbox {self._name}>"

    async def record(self, consumer: str, message_id: str, *, uow: UnitOfWork) -> bool:
        """Record the message in the unit of work; ``False`` if it is recorded already."""
        table = _joined(uow, self._name, "inbox")
        key = inbox_key(consumer, message_id)
        if key in table.documents:
            return False
        table.documents[key] = inbox_record(consumer, message_id, utcnow())
        return True

    async def handled(self, consumer: str, message_id: str) -> bool:
        """Whether a committed record exists."""
        return inbox_key(consumer, message_id) in self._store.table(self._name).documents
