"""The MongoDB event store: one document per event, a head per stream, a global counter.

Collections (their names start with ``prefix``, ``hk_`` by default):

* ``events``: one document per event; unique indexes on ``(stream_id, version)``
  and on ``position``.
* ``event_streams``: one head per stream, ``{_id: stream_id, version}``.
* ``event_counter``: one document, ``{_id: "all", position}``, the last
  position handed out.
* ``snapshots``: the latest snapshot of each stream, keyed by stream id.

**Appending** runs in a multi-document transaction (the caller's unit of work,
or one of its own): read the stream's head and refuse a stale
``expected_version`` with ``ConcurrencyConflict``; move the head; increment the
counter by the number of events with ``$inc``; insert the events with the
positions the counter gave. All of it commits or none of it does.

**Why the global order is gap-free and in commit order.** The counter is
written inside the appending transaction, so it is locked until that
transaction commits or aborts. A second appender that writes the counter
meanwhile meets a write conflict (MongoDB labels it
``TransientTransactionError``) and starts again, after the first one is
finished, from a snapshot that includes it. An aborted transaction takes its
increment with it, so no position is ever skipped; and a position is handed out
only once every lower one is committed, so a reader that has seen position
*n* has seen every position below it. A subscriber that asks for the events
after its checkpoint therefore gets each committed event exactly once, in one
order shared by every subscriber. ``read_all`` still stops at a gap should one
ever be visible (a lagging secondary, say), rather than skip past it.

The trade-off: every append in the database goes through the one counter
document, so appends are serialised; concurrent appenders retry instead of
running in parallel, and throughput is bounded by one transaction at a time
(see docs/performance.md). Sharding the counter, or a single sequencer process
that numbers events after their commit, would scale further at the cost of
extra latency before subscribers see an event; the counter keeps exactly-once,
in-order delivery simple and provable, which is what projections and sagas need.

A conflict on the stream head (two writers at the same expected version) is
caught the same way: the loser retries, finds the head moved, and gets
``ConcurrencyConflict``. Retries use tenacity on MongoDB's transient errors.
"""

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import tenacity
from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from hexkernel.adapters._event_records import (
    event_records,
    record_to_event,
    snapshot_from_record,
    snapshot_record,
    stale,
)
from hexkernel.adapters.mongo.errors import translated
from hexkernel.adapters.mongo.unit_of_work import forget_session, is_transient
from hexkernel.core.errors import DuplicateKey
from hexkernel.core.messages import Event, MessageRegistry, registry
from hexkernel.core.ports.event_store import Snapshot, StoredEvent
from hexkernel.core.ports.unit_of_work import UnitOfWork

__all__ = ("MongoEventStore",)

_COUNTER_KEY = "all"
_NAME = "EventStore"


class MongoEventStore:
    """The :class:`~hexkernel.core.ports.event_store.EventStore` on MongoDB.

    Args:
        database: The database (its client must support transactions: a replica set).
        registry: Where event classes and upcasters are looked up.
        prefix: Prefix of the collection names.
        attempts: How many times an append on its own is tried on transient errors.
    """

    def __init__(
        self,
        database: AsyncDatabase[Any],
        *,
        registry: MessageRegistry = registry,
        prefix: str = "hk_",
        attempts: int = 30,
    ) -> None:
        self._database = database
        self._registry = registry
        self._events = database[f"{prefix}events"]
        self._streams = database[f"{prefix}event_streams"]
        self._counter = database[f"{prefix}event_counter"]
        self._snapshots = database[f"{prefix}snapshots"]
        self._attempts = attempts
        self._ready = False
        self._ready_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"<MongoEventStore {self._database.name}.{self._events.name}>"

    async def ensure_indexes(self) -> None:
        """Create the unique indexes (once per store object; no transaction may be open)."""
        if self._ready:
            return
        async with self._ready_lock:
            if self._ready:
                return
            with translated(_NAME):
                await self._events.create_index(
                    [("stream_id", ASCENDING), ("version", ASCENDING)],
                    unique=True,
                    name="stream_version",
                )
                await self._events.create_index(
                    [("position", ASCENDING)], unique=True, name="position"
                )
            self._ready = True

    @staticmethod
    def _session(uow: UnitOfWork | None) -> AsyncClientSession | None:
        if uow is None:
            return None
        session = getattr(uow, "session", None)
        if not isinstance(session, AsyncClientSession):
            raise TypeError(f"the MongoDB event store cannot join {type(uow).__name__}")
        return session

    async def _in_transaction(self, work: Any) -> Any:
        """Run ``work(session)`` in a transaction of its own, again on transient errors."""
        client = self._database.client
        async for attempt in tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception(is_transient),
            stop=tenacity.stop_after_attempt(self._attempts),
            wait=tenacity.wait_random_exponential(multiplier=0.005, max=0.2),
            reraise=True,
        ):
            with attempt:
                async with client.start_session() as session:
                    with translated(_NAME):
                        await session.start_transaction()
                    try:
                        result = await work(session)
                    except BaseException:
                        if session.in_transaction:
                            with translated(_NAME):
                                await session.abort_transaction()
                        raise
                    with translated(_NAME):
                        try:
                            await session.commit_transaction()
                        except PyMongoError:
                            forget_session(session)
                            raise
                    return result
        raise AssertionError("unreachable")  # pragma: no cover - tenacity reraises

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
        await self.ensure_indexes()
        session = self._session(uow)

        async def work(session: AsyncClientSession) -> list[StoredEvent]:
            return await self._append(session, stream_id, events, expected_version, metadata)

        if session is not None:
            return await work(session)
        result: list[StoredEvent] = await self._in_transaction(work)
        return result

    async def _append(
        self,
        session: AsyncClientSession,
        stream_id: str,
        events: Sequence[Event],
        expected: int,
        metadata: Mapping[str, str] | None,
    ) -> list[StoredEvent]:
        with translated(_NAME):
            head = await self._streams.find_one({"_id": stream_id}, session=session)
        current = 0 if head is None else int(head["version"])
        if current != expected:
            raise stale(stream_id, expected, current)
        if not events:
            return []
        count = len(events)
        try:
            with translated(_NAME):
                if head is None:
                    await self._streams.insert_one(
                        {"_id": stream_id, "version": count}, session=session
                    )
                else:
                    moved = await self._streams.update_one(
                        {"_id": stream_id, "version": expected},
                        {"$set": {"version": expected + count}},
                        session=session,
                    )
                    if moved.matched_count != 1:
                        # Cannot happen inside a snapshot-isolated transaction; never
                        # write events behind a head that did not move, though.
                        conflict = stale(stream_id, expected, expected + 1)
                        conflict.transient = True  # type: ignore[attr-defined]
                        raise conflict
                counter = await self._counter.find_one_and_update(
                    {"_id": _COUNTER_KEY},
                    {"$inc": {"position": count}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                    session=session,
                )
                records = event_records(
                    self._registry,
                    stream_id,
                    events,
                    first_version=expected + 1,
                    first_position=int(counter["position"]) - count + 1,
                    metadata=metadata,
                )
                await self._events.insert_many(records, ordered=True, session=session)
        except DuplicateKey as exc:
            # Another transaction created the stream first (only possible when the
            # server does not report it as a write conflict).
            conflict = stale(stream_id, expected, expected + 1)
            conflict.transient = True  # type: ignore[attr-defined]
            raise conflict from exc
        return [record_to_event(self._registry, r) for r in records]

    async def save_snapshot(self, snapshot: Snapshot, *, uow: UnitOfWork | None = None) -> None:
        """Keep ``snapshot`` unless a newer one is kept already."""
        session = self._session(uow)

        async def work(session: AsyncClientSession) -> None:
            with translated(_NAME):
                held = await self._snapshots.find_one(
                    {"_id": snapshot.stream_id}, {"version": 1}, session=session
                )
                if held is None or int(held["version"]) < snapshot.version:
                    await self._snapshots.replace_one(
                        {"_id": snapshot.stream_id},
                        snapshot_record(snapshot),
                        upsert=True,
                        session=session,
                    )

        if session is not None:
            await work(session)
        else:
            await self._in_transaction(work)

    # ---------------------------------------------------------------- reads
    async def read_stream(
        self, stream_id: str, *, after_version: int = 0, uow: UnitOfWork | None = None
    ) -> list[StoredEvent]:
        """The events of a stream above ``after_version``."""
        session = self._session(uow)
        with translated(_NAME):
            cursor = self._events.find(
                {"stream_id": stream_id, "version": {"$gt": after_version}}, session=session
            ).sort("version", ASCENDING)
            records = await cursor.to_list()
        return [record_to_event(self._registry, r) for r in records]

    async def stream_version(self, stream_id: str, *, uow: UnitOfWork | None = None) -> int:
        """The version of a stream, 0 when it has no events."""
        with translated(_NAME):
            head = await self._streams.find_one({"_id": stream_id}, session=self._session(uow))
        return 0 if head is None else int(head["version"])

    async def read_all(self, *, after_position: int = 0, limit: int = 500) -> list[StoredEvent]:
        """Committed events after ``after_position``, consecutive, at most ``limit``."""
        with translated(_NAME):
            cursor = (
                self._events.find({"position": {"$gt": after_position}})
                .sort("position", ASCENDING)
                .limit(limit)
            )
            records = await cursor.to_list()
        out: list[StoredEvent] = []
        expected = after_position + 1
        for record in records:
            if int(record["position"]) != expected:
                break  # never skip past a position that is not visible yet
            out.append(record_to_event(self._registry, record))
            expected += 1
        return out

    async def last_position(self) -> int:
        """The position of the last committed event."""
        with translated(_NAME):
            counter = await self._counter.find_one({"_id": _COUNTER_KEY})
        return 0 if counter is None else int(counter["position"])

    async def load_snapshot(
        self, stream_id: str, *, uow: UnitOfWork | None = None
    ) -> Snapshot | None:
        """The latest snapshot of a stream."""
        with translated(_NAME):
            record = await self._snapshots.find_one({"_id": stream_id}, session=self._session(uow))
        return None if record is None else snapshot_from_record(record)
