"""Envelopes: a message on its way between services, with the ids that follow it.

An :class:`Envelope` carries one command or event in its data form (see
:mod:`hexkernel.core.messages`) together with what a receiver needs besides
the data:

* ``message_id``: unique per message (``msg_<ULID>``, so ids sort by creation
  time); an idempotent consumer remembers it to ignore redeliveries;
* ``type`` and ``version``: the stable type name and schema version, so the
  receiver rebuilds the message with its own registry, upcasting old versions;
* ``correlation_id``: the id of the whole piece of work (an HTTP request, a
  saga) the message belongs to, taken from :func:`hexkernel.core.correlation.correlation_id`;
* ``causation_id``: the id of the message whose handling sent this one, taken
  from :func:`caused_by` while a consumer handles a message.

Envelopes are written to the outbox, published by the relay and delivered by
the broker in the JSON form of :meth:`Envelope.to_dict`; reading one back is
strict and reports every problem as a :class:`~hexkernel.core.errors.ValidationError`.
"""

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import attrs

from hexkernel.core.correlation import correlation_id
from hexkernel.core.errors import ErrorItem, ValidationError
from hexkernel.core.ids import new_id
from hexkernel.core.messages import Message, MessageRegistry, registry

__all__ = ("Envelope", "causation_id", "caused_by")

_CAUSATION_ID: ContextVar[str | None] = ContextVar("hexkernel_causation_id", default=None)


def causation_id() -> str | None:
    """The id of the message being handled in this context, or ``None``."""
    return _CAUSATION_ID.get()


@contextmanager
def caused_by(message_id: str | None) -> Iterator[None]:
    """Inside the block, :meth:`Envelope.wrap` names ``message_id`` as the cause."""
    token = _CAUSATION_ID.set(message_id)
    try:
        yield
    finally:
        _CAUSATION_ID.reset(token)


def _now() -> dt.datetime:
    moment = dt.datetime.now(dt.UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


_FIELDS: dict[str, type | tuple[type, ...]] = {
    "message_id": str,
    "type": str,
    "version": int,
    "data": dict,
    "correlation_id": (str, type(None)),
    "causation_id": (str, type(None)),
    "occurred_at": str,
}


@attrs.frozen(kw_only=True)
class Envelope:
    """One message in transit, with its identity and provenance.

    Attributes:
        message_id: Unique id of this message (``msg_<ULID>``).
        type: The message's stable type name.
        version: The schema version of ``data``.
        data: The message's data form (JSON values only).
        correlation_id: The id of the work the message belongs to.
        causation_id: The id of the message that caused this one, if any.
        occurred_at: When the envelope was made (UTC, milliseconds).
    """

    message_id: str
    type: str
    version: int
    data: Mapping[str, Any]
    correlation_id: str | None = None
    causation_id: str | None = None
    occurred_at: dt.datetime = attrs.field(factory=_now)

    @classmethod
    def wrap(
        cls,
        message: Message,
        *,
        registry: MessageRegistry = registry,
        message_id: str | None = None,
    ) -> "Envelope":
        """Put ``message`` in a new envelope.

        The correlation id bound in this context and the message being handled
        (:func:`caused_by`) are recorded.

        Raises:
            ModelDefinitionError: The message's class is not declared with ``@message``.
        """
        type_name, version, data = registry.dump(message)
        return cls(
            message_id=message_id or new_id("msg"),
            type=type_name,
            version=version,
            data=data,
            correlation_id=correlation_id(),
            causation_id=causation_id(),
        )

    def open(self, registry: MessageRegistry = registry) -> Message:
        """Rebuild the message, upcasting an old version first.

        Raises:
            LookupError: The type is unknown here, or an upcaster is missing.
            ValidationError: The data does not fit the message's class.
        """
        return registry.load(self.type, self.version, self.data)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``occurred_at`` as an RFC 3339 string)."""
        return {
            "message_id": self.message_id,
            "type": self.type,
            "version": self.version,
            "data": dict(self.data),
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
            "occurred_at": self.occurred_at.isoformat(timespec="milliseconds"),
        }

    @classmethod
    def from_dict(cls, value: Any) -> "Envelope":
        """Read the JSON form back.

        Raises:
            ValidationError: Listing every missing, unknown or mistyped field.
        """
        if not isinstance(value, Mapping):
            raise ValidationError.single("", "invalid_type", "must be an object", "Envelope")
        problems = [
            ErrorItem(key, "unknown_field", "is not a field of an envelope")
            for key in value
            if key not in _FIELDS
        ]
        for key, kind in _FIELDS.items():
            if key not in value:
                if not isinstance(kind, tuple):
                    problems.append(ErrorItem(key, "missing", "is required"))
            elif not isinstance(value[key], kind) or isinstance(value[key], bool):
                problems.append(ErrorItem(key, "invalid_type", "has the wrong type"))
        moment: dt.datetime | None = None
        if not problems:
            try:
                moment = dt.datetime.fromisoformat(value["occurred_at"])
            except ValueError:
                problems.append(ErrorItem("occurred_at", "invalid_format", "is not a date-time"))
            else:
                if moment.tzinfo is None:
                    problems.append(ErrorItem("occurred_at", "invalid_format", "has no offset"))
        if problems or moment is None:
            raise ValidationError(problems, "Envelope")
        return cls(
            message_id=value["message_id"],
            type=value["type"],
            version=value["version"],
            data=value["data"],
            correlation_id=value.get("correlation_id"),
            causation_id=value.get("causation_id"),
            occurred_at=moment.astimezone(dt.UTC),
        )

    def to_json(self) -> str:
        """The JSON form as compact text."""
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> "Envelope":
        """Read the text of :meth:`to_json` back.

        Raises:
            ValidationError: The text is not JSON, or not an envelope.
        """
        try:
            value = json.loads(text)
        except ValueError:
            raise ValidationError.single("", "invalid_json", "is not JSON", "Envelope") from None
        return cls.from_dict(value)
