"""The stored form of events and snapshots, shared by every event-store adapter.

An event is stored as one flat record of JSON-friendly values (its data in the
data form of messages) plus its place in the stream and in the global log.
Both adapters write and read the same records, so they upcast, name and date
events identically.
"""

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from hexkernel.adapters._documents import utcnow
from hexkernel.core.correlation import correlation_id
from hexkernel.core.errors import ConcurrencyConflict, ValidationError
from hexkernel.core.ids import new_id
from hexkernel.core.messages import Event, MessageRegistry
from hexkernel.core.ports.event_store import Snapshot, StoredEvent

__all__ = (
    "event_records",
    "record_to_event",
    "snapshot_from_record",
    "snapshot_record",
    "stale",
)


def stale(stream_id: str, expected: int, current: int) -> ConcurrencyConflict:
    """The error of an append at a version the stream has left."""
    return ConcurrencyConflict("stream", stream_id, expected, current)


def event_records(
    registry: MessageRegistry,
    stream_id: str,
    events: Sequence[Event],
    *,
    first_version: int,
    first_position: int,
    metadata: Mapping[str, str] | None,
) -> list[dict[str, Any]]:
    """The records of ``events``, numbered from ``first_version`` and ``first_position``."""
    shared = dict(metadata or {})
    bound = correlation_id()
    if bound is not None:
        shared.setdefault("correlation_id", bound)
    when = utcnow()
    records = []
    for offset, event in enumerate(events):
        if not isinstance(event, Event):
            raise ValidationError.single(
                f"[{offset}]", "invalid_type", "is not an Event", "EventStore"
            )
        type_name, version, data = registry.dump(event)
        records.append(
            {
                "_id": new_id("evt"),
                "stream_id": stream_id,
                "version": first_version + offset,
                "position": first_position + offset,
                "type": type_name,
                "schema_version": version,
                "data": data,
                "metadata": shared,
                "occurred_at": when,
            }
        )
    return records


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def record_to_event(registry: MessageRegistry, record: Mapping[str, Any]) -> StoredEvent:
    """The :class:`StoredEvent` of a record, its event upcast to the current version."""
    event = registry.load(record["type"], int(record["schema_version"]), record["data"])
    return StoredEvent(
        event=event,  # type: ignore[arg-type] - the registry holds the class an event was stored as
        type=record["type"],
        schema_version=int(record["schema_version"]),
        stream_id=record["stream_id"],
        version=int(record["version"]),
        position=int(record["position"]),
        event_id=record["_id"],
        occurred_at=_utc(record["occurred_at"]),
        metadata=dict(record.get("metadata") or {}),
    )


def snapshot_record(snapshot: Snapshot) -> dict[str, Any]:
    """The stored form of a snapshot, keyed by its stream."""
    return {
        "_id": snapshot.stream_id,
        "version": snapshot.version,
        "aggregate_type": snapshot.aggregate_type,
        "schema_version": snapshot.schema_version,
        "state": dict(snapshot.state),
    }


def snapshot_from_record(record: Mapping[str, Any]) -> Snapshot:
    """The :class:`Snapshot` of a stored record."""
    return Snapshot(
        stream_id=record["_id"],
        version=int(record["version"]),
        aggregate_type=record["aggregate_type"],
        schema_version=int(record["schema_version"]),
        state=dict(record["state"]),
    )
