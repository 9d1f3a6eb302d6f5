"""Loading and saving event-sourced aggregates through the event store.

Loading reads the latest snapshot (when snapshots are on and it was taken
with the aggregate's current ``snapshot_version``) and replays the events after
it; saving appends the pending events at the version the aggregate was loaded
at, so a concurrent change surfaces as
:class:`~hexkernel.core.errors.ConcurrencyConflict` (the command bus runs the
command again). Inside a unit of work (the command's, or one passed in) the
events are written in its transaction and handed to it, to be dispatched after
the commit; a snapshot is taken in the same transaction whenever the stream
crosses a multiple of ``snapshot_every`` events.
"""

from typing import Generic, TypeVar

from hexkernel.application.middleware import current_unit_of_work
from hexkernel.core.errors import NotFound
from hexkernel.core.eventsourcing import Aggregate
from hexkernel.core.ports.event_store import EventStore, Snapshot, StoredEvent
from hexkernel.core.ports.unit_of_work import UnitOfWork

__all__ = ("EventSourcedRepository",)

A = TypeVar("A", bound=Aggregate)


class EventSourcedRepository(Generic[A]):
    """Loads aggregates of one class from their streams and appends their new events.

    Args:
        aggregate: The aggregate class; an aggregate's stream id is its id.
        store: The event store.
        snapshot_every: Take a snapshot each time a stream crosses a multiple
            of this many events; ``None`` (the default) takes none. Loading
            always uses a usable snapshot when there is one.
    """

    def __init__(
        self, aggregate: type[A], store: EventStore, *, snapshot_every: int | None = None
    ) -> None:
        if snapshot_every is not None and snapshot_every < 1:
            raise ValueError("snapshot_every must be at least 1")
        self._cls = aggregate
        self._store = store
        self._every = snapshot_every

    @staticmethod
    def _unit(uow: UnitOfWork | None) -> UnitOfWork | None:
        return uow if uow is not None else current_unit_of_work()

    async def find(self, aggregate_id: str, *, uow: UnitOfWork | None = None) -> A | None:
        """The aggregate rebuilt from its snapshot and events, or ``None`` when it has none."""
        unit = self._unit(uow)
        snapshot = await self._store.load_snapshot(aggregate_id, uow=unit)
        if (
            snapshot is not None
            and snapshot.aggregate_type == self._cls.aggregate_type()
            and snapshot.schema_version == self._cls.snapshot_version
        ):
            stored = await self._store.read_stream(
                aggregate_id, after_version=snapshot.version, uow=unit
            )
            return self._cls.replay(
                aggregate_id,
                (s.event for s in stored),
                snapshot=snapshot.state,
                snapshot_version=snapshot.version,
            )
        stored = await self._store.read_stream(aggregate_id, uow=unit)
        if not stored:
            return None
        return self._cls.replay(aggregate_id, (s.event for s in stored))

    async def get(self, aggregate_id: str, *, uow: UnitOfWork | None = None) -> A:
        """The aggregate rebuilt from its snapshot and events.

        Raises:
            NotFound: The stream has no events.
        """
        found = await self.find(aggregate_id, uow=uow)
        if found is None:
            raise NotFound(self._cls.__name__, aggregate_id)
        return found

    async def events(self, aggregate_id: str) -> list[StoredEvent]:
        """The stored events of an aggregate, in stream order."""
        return await self._store.read_stream(aggregate_id, uow=current_unit_of_work())

    async def save(self, aggregate: A, *, uow: UnitOfWork | None = None) -> list[StoredEvent]:
        """Append the aggregate's pending events; collect them in the unit of work.

        Raises:
            ConcurrencyConflict: The stream moved since the aggregate was loaded.
        """
        pending = list(aggregate.pending_events)
        if not pending:
            return []
        unit = self._unit(uow)
        before = aggregate.committed_version
        stored = await self._store.append(aggregate.id, pending, expected_version=before, uow=unit)
        aggregate.mark_committed()
        if unit is not None:
            unit.collect(*pending)
        if self._every is not None and before // self._every != aggregate.version // self._every:
            await self._store.save_snapshot(
                Snapshot(
                    stream_id=aggregate.id,
                    version=aggregate.version,
                    aggregate_type=self._cls.aggregate_type(),
                    schema_version=self._cls.snapshot_version,
                    state=aggregate.snapshot_state(),
                ),
                uow=unit,
            )
        return stored
