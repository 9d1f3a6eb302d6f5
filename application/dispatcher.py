"""The event dispatcher: every handler subscribed to an event's type, in order.

Handlers subscribe to an event class, or to one of its bases (``Event``
receives everything). They run one after the other, in subscription order,
after the unit of work that raised the events has committed. A failing handler
does not stop the others and cannot undo the commit: its error is logged (the
event's type and the correlation id, never its data) and handed to
``on_error``. Work that must not be lost belongs in the outbox, which
commits with the state change; these in-process handlers are for effects
that are cheap to lose or to repeat (a cache, a notification, the next
command of a choreography that a retry would redo).
"""

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

from hexkernel.core.correlation import correlation_id
from hexkernel.core.messages import Event

__all__ = ("EventDispatcher", "EventHandler")

E = TypeVar("E", bound=Event)

EventHandler = Callable[[E], Awaitable[Any]]
"""An async callable reacting to one type of event."""

log = logging.getLogger("hexkernel.events")


class EventDispatcher:
    """Publishes events to any number of handlers per event type.

    Args:
        handlers: Initial subscriptions: the handlers of each event type (the
            container's dictionary of lists).
        on_error: Called with the event and the error of each failing handler.
    """

    def __init__(
        self,
        handlers: Mapping[type[Event], Iterable[EventHandler[Any]]] | None = None,
        *,
        on_error: Callable[[Event, BaseException], None] | None = None,
    ) -> None:
        self._handlers: dict[type[Event], list[EventHandler[Any]]] = {}
        self._on_error = on_error
        for event_type, subscribers in (handlers or {}).items():
            for handler in subscribers:
                self.subscribe(event_type, handler)

    def subscribe(self, event_type: type[E], handler: EventHandler[E]) -> None:
        """Call ``handler`` for every published event of ``event_type`` (or a subclass)."""
        self._handlers.setdefault(event_type, []).append(handler)

    def handlers_for(self, event_type: type[Event]) -> list[EventHandler[Any]]:
        """The handlers an event of ``event_type`` reaches, most specific type first."""
        found: list[EventHandler[Any]] = []
        for klass in event_type.__mro__:
            found.extend(self._handlers.get(klass, ()))
        return found

    async def publish(self, events: Iterable[Event]) -> None:
        """Hand each event, in order, to each of its handlers, in order."""
        for event in events:
            for handler in self.handlers_for(type(event)):
                try:
                    await handler(event)
                except Exception as exc:  # one handler must not silence the others
                    log.exception(
                        "event handler failed for %s (correlation id %s)",
                        event.__message_type__ or type(event).__qualname__,
                        correlation_id(),
                    )
                    if self._on_error is not None:
                        self._on_error(event, exc)
