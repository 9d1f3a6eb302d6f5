"""The in-memory event store: streams, the global log and snapshots in an InMemoryStore.

It keeps its records in four collections of the service's
:class:`~hexkernel.adapters.memory.InMemoryStore`, so it shares the store's
transactions: given an :class:`~hexkernel.adapters.memory.InMemoryUnitOfWork`,
an append is part of that unit and becomes visible with its commit, together
with the repositories' writes (a projection's read model and checkpoint, an
outbox). The global position is a counter document written by every append;
two units of work appending concurrently therefore both touch it, and the
later commit fails as a transient conflict (``run`` retries it). Positions are
handed out in commit order, with no gaps, as on MongoDB.

Without a unit of work an append runs in a private one and commits at once;
nothing awaits in between, so it is atomic with respect to other tasks.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from hexkernel.adapters._event_records import (
    event_records,
    record_to_event,
    snapshot_from_record,
    snapshot_record,
    stale,
)
from hexkernel.adapters.memory.store import InMemoryStore, _Table
from hexkernel.adapters.memory.unit_of_work import InMemoryUnitOfWork
from hexkernel.core.messages import Event, MessageRegistry, registry
from hexkernel.core.ports.event_store import Snapshot, StoredEvent
from hexkernel.core.ports.unit_of_work import UnitOfWork

__all__ = ("InMemoryEventStore",)

_COUNTER_KEY = "all"


def _log_key(position: int) -> str:
    return f"{position:020d}"


class InMemoryEventStore:
    """The :class:`~hexkernel.core.ports.event_store.EventStore` on an :class:`InMemoryStore`.

    Args:
        store: The service's store (a new one when omitted).
        registry: Where event classes and upcasters are looked up.
        prefix: Prefix of the collection names.
    """

    def __init__(
        self,
        store: InMemoryStore | None = None,
        *,
        registry: MessageRegistry = registry,
        prefix: str = "hk_",
    ) -> None:
        self._store = store if store is not None else InMemoryStore()
        self._registry = registry
        self._streams = f"{prefix}event_streams"
        self._log = f"{prefix}events"
        self._counter = f"{prefix}event_counter"
        self._snapshots = f"{prefix}snapshots"

    def __repr__(self) -> str:
        return f"<InMemoryEventStore on {self._store!r}>"

    def _table(self, name: str, uow: UnitOfWork | None) -> _Table:
        if uow is None:
            return self._store.table(name)
        if not isinstance(uow, InMemoryUnitOfWork):
            raise TypeError(f"the in-memory event store cannot join {type(uow).__name__}")
        return uow.table(name)

    # --------------------------------------------------------------- writes
    async def append(
        self,
        stream_id: str,
        events: Sequence[Event],
        *,
        expected_version: int,
        metadata: Mapping[str, str] | None = None,
        uow: UnitOfWork | None = None,
    ) -> list[StoredEvent]:
        """Append all of ``events`` at ``expected_version``, or nothing."""
        if uow is not None:
            return self._append(stream_id, events, expected_version, metadata, uow)
        own = InMemoryUnitOfWork(self._store)
        stored = self._append(stream_id, events, expected_version, metadata, own)
        await own.commit()  # no await came before: nobody can have written meanwhile
        return stored

    def _append(
        self,
        stream_id: str,
        events: Sequence[Event],
        expected: int,
        metadata: Mapping[str, str] | None,
        uow: UnitOfWork,
    ) -> list[StoredEvent]:
        streams = self._table(self._streams, uow)
        head = streams.documents.get(stream_id)
        current = 0 if head is None else int(head["version"])
        if current != expected:
            raise stale(stream_id, expected, current)
        if not events:
            return []
        counter = self._table(self._counter, uow)
        last = int(counter.documents.get(_COUNTER_KEY, {}).get("position", 0))
        records = event_records(
            self._registry,
            stream_id,
            events,
            first_version=expected + 1,
            first_position=last + 1,
            metadata=metadata,
        )
        log = self._table(self._log, uow)
        for record in records:
            log.documents[_log_key(record["position"])] = record
        # Documents are replaced, never changed in place: the store's commit check
        # compares identities.
        streams.documents[stream_id] = {
            "_id": stream_id,
            "version": expected + len(records),
            "positions": (
                *(() if head is None else head["positions"]),
                *(r["position"] for r in records),
            ),
        }
        counter.documents[_COUNTER_KEY] = {"_id": _COUNTER_KEY, "position": last + len(records)}
        return [record_to_event(self._registry, r) for r in records]

    async def save_snapshot(self, snapshot: Snapshot, *, uow: UnitOfWork | None = None) -> None:
        """Keep ``snapshot`` unless a newer one is kept already."""
        table = self._table(self._snapshots, uow)
        held = table.documents.get(snapshot.stream_id)
        if held is None or int(held["version"]) < snapshot.version:
            table.documents[snapshot.stream_id] = snapshot_record(snapshot)

    # ---------------------------------------------------------------- reads
    async def read_stream(
        self, stream_id: str, *, after_version: int = 0, uow: UnitOfWork | None = None
    ) -> list[StoredEvent]:
        """The events of a stream above ``after_version``."""
        head = self._table(self._streams, uow).documents.get(stream_id)
        if head is None:
            return []
        log = self._table(self._log, uow).documents
        wanted = head["positions"][max(after_version, 0) :]
        return [record_to_event(self._registry, log[_log_key(p)]) for p in wanted]

    async def stream_version(self, stream_id: str, *, uow: UnitOfWork | None = None) -> int:
        """The version of a stream, 0 when it has no events."""
        head = self._table(self._streams, uow).documents.get(stream_id)
        return 0 if head is None else int(head["version"])

    async def read_all(self, *, after_position: int = 0, limit: int = 500) -> list[StoredEvent]:
        """Committed events after ``after_position``, consecutive, at most ``limit``."""
        log = self._store.table(self._log).documents
        out: list[StoredEvent] = []
        position = max(after_position, 0) + 1
        while len(out) < limit:
            record: dict[str, Any] | None = log.get(_log_key(position))
            if record is None:
                break
            out.append(record_to_event(self._registry, record))
            position += 1
        return out

    async def last_position(self) -> int:
        """The position of the last committed event."""
        counter = self._store.table(self._counter).documents.get(_COUNTER_KEY)
        return 0 if counter is None else int(counter["position"])

    async def load_snapshot(
        self, stream_id: str, *, uow: UnitOfWork | None = None
    ) -> Snapshot | None:
        """The latest snapshot of a stream."""
        record = self._table(self._snapshots, uow).documents.get(stream_id)
        return None if record is None else snapshot_from_record(record)
