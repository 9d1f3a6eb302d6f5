"""The stored form of outbox entries and inbox records, shared by the outbox adapters.

An outbox entry is keyed by its message id (``msg_<ULID>``, so key order is
creation order) and holds the topic, the envelope's JSON form, whether it was
sent, and the current claim (its owner and when it expires). An inbox record
is keyed by consumer and message id. Both stores write and read the same
documents.
"""

import datetime as dt
from collections.abc import Mapping
from typing import Any

from hexkernel.core.envelope import Envelope
from hexkernel.core.ports.outbox import OutboxMessage

__all__ = ("inbox_key", "inbox_record", "outbox_message", "outbox_record")


def outbox_record(message: OutboxMessage) -> dict[str, Any]:
    """The document of a new, unsent, unclaimed outbox entry."""
    return {
        "_id": message.message_id,
        "topic": message.topic,
        "envelope": message.envelope.to_dict(),
        "sent": False,
        "sent_at": None,
        "claimed_by": None,
        "claimed_until": None,
    }


def outbox_message(record: Mapping[str, Any]) -> OutboxMessage:
    """The :class:`OutboxMessage` of a stored entry."""
    return OutboxMessage(topic=record["topic"], envelope=Envelope.from_dict(record["envelope"]))


def inbox_key(consumer: str, message_id: str) -> str:
    """The key of ``consumer``'s record of ``message_id``."""
    return f"{consumer}/{message_id}"


def inbox_record(consumer: str, message_id: str, when: dt.datetime) -> dict[str, Any]:
    """The document recording that ``consumer`` handled ``message_id``."""
    return {
        "_id": inbox_key(consumer, message_id),
        "consumer": consumer,
        "message_id": message_id,
        "handled_at": when,
    }
