"""The event-store port: append-only streams of events, and one global order of them all.

A *stream* holds the events of one aggregate, numbered 1, 2, 3, ... (its
*version* is the number of the last one). Every committed event also has a
*position* in the store's global log: 1, 2, 3, ... with no gaps, in commit
order, so that a subscriber reading the log after the last position it handled
sees every event exactly once and in the same order as every other subscriber,
also while several writers append concurrently.

Appends and snapshot writes take part in a unit of work when one is given (the
adapter's own kind: an in-memory event store joins an in-memory unit of work, the
MongoDB one a MongoDB transaction); without one they are atomic on their own.
"""

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import attrs

from hexkernel.core.messages import Event
from hexkernel.core.ports.unit_of_work import UnitOfWork

__all__ = ("EventStore", "Snapshot", "StoredEvent")


@attrs.frozen(kw_only=True)
class StoredEvent:
    """An event as the store holds it.

    Attributes:
        event: The event, upcast to the current version of its class.
        type: Its stable type name.
        schema_version: The version of the data as it was written.
        stream_id: The stream it belongs to.
        version: Its number in the stream, from 1.
        position: Its number in the global log, from 1, without gaps.
        event_id: A unique id (``evt_<ULID>``).
        occurred_at: When it was appended (UTC).
        metadata: Strings stored with it: ``correlation_id`` and whatever the
            writer added (``causation_id``, the acting user, ...).
    """

    event: Event
    type: str
    schema_version: int
    stream_id: str
    version: int
    position: int
    event_id: str
    occurred_at: dt.datetime
    metadata: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class Snapshot:
    """The state of an aggregate at one version of its stream.

    Attributes:
        stream_id: The stream.
        version: The stream version the state includes.
        aggregate_type: The aggregate's name.
        schema_version: The aggregate's ``snapshot_version`` when it was taken.
        state: The state as JSON values.
    """

    stream_id: str
    version: int
    aggregate_type: str
    schema_version: int
    state: Mapping[str, Any]


@runtime_checkable
class EventStore(Protocol):
    """Streams of events with optimistic concurrency, a global log and snapshots."""

    async def append(
        self,
        stream_id: str,
        events: Sequence[Event],
        *,
        expected_version: int,
        metadata: Mapping[str, str] | None = None,
        uow: UnitOfWork | None = None,
    ) -> list[StoredEvent]:
        """Append ``events`` to a stream, all or none, if it is still at ``expected_version``.

        Args:
            stream_id: The stream (created by its first append, at expected version 0).
            events: The events, in order; an empty sequence writes nothing.
            expected_version: The version the writer based its decision on.
            metadata: Strings stored with every event; the bound correlation id
                is added as ``correlation_id`` unless given.
            uow: The unit of work to write in; its commit makes the events
                durable and visible. Without it the append commits on its own.

        Returns:
            The stored events, with their versions and positions.

        Raises:
            ConcurrencyConflict: The stream is not at ``expected_version``
                (another writer appended first); nothing was written.
            ValidationError: An event is not declared with ``@message``.
            StoreUnavailable: The store cannot be reached.
        """
        ...

    async def read_stream(
        self, stream_id: str, *, after_version: int = 0, uow: UnitOfWork | None = None
    ) -> list[StoredEvent]:
        """Return the events of a stream with a version above ``after_version``, in order.

        An unknown stream has no events. Old versions of events are upcast.

        Raises:
            LookupError: An event's type or an upcaster it needs is unknown.
        """
        ...

    async def stream_version(self, stream_id: str, *, uow: UnitOfWork | None = None) -> int:
        """Return the version of a stream (0 when it has no events)."""
        ...

    async def read_all(self, *, after_position: int = 0, limit: int = 500) -> list[StoredEvent]:
        """Return up to ``limit`` committed events of the global log after ``after_position``.

        The positions returned are consecutive, starting at ``after_position + 1``.
        """
        ...

    async def last_position(self) -> int:
        """Return the position of the last committed event (0 when there is none)."""
        ...

    async def save_snapshot(self, snapshot: Snapshot, *, uow: UnitOfWork | None = None) -> None:
        """Store ``snapshot`` as the stream's latest, unless a newer one is stored already."""
        ...

    async def load_snapshot(
        self, stream_id: str, *, uow: UnitOfWork | None = None
    ) -> Snapshot | None:
        """Return the latest snapshot of a stream, or ``None``."""
        ...
