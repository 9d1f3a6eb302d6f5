"""Sending messages through the transactional outbox.

A message sent with :meth:`Outbox.send` is written to the outbox in the
transaction of the current unit of work, so it leaves the service (through
the :class:`~hexkernel.application.relay.OutboxRelay`) if and only if the state
change it belongs to commits::

    async def approve(command: ApproveOrder) -> None:
        order = await Order.get(command.order_id)   # in the command's unit of work
        order.state = "APPROVED"
        await order.save()
        await outbox.send(OrderApproved(order_id=order.id), topic="orders.events")

Domain events need no call at all: give the outbox *routes* (an event class,
or a base class such as ``Event``, to a topic), put :class:`OutboxMiddleware`
inside the unit-of-work middleware, and every routed event the unit collected
(``uow.collect``, ``EventSourcedRepository.save``) is written to the outbox
before the unit commits.
"""

import weakref
from collections.abc import Callable, Mapping
from typing import Any

from hexkernel.application.buses import Next
from hexkernel.application.middleware import current_unit_of_work
from hexkernel.core.envelope import Envelope
from hexkernel.core.messages import Message, MessageRegistry, registry
from hexkernel.core.ports.outbox import OutboxMessage, OutboxStore
from hexkernel.core.ports.unit_of_work import UnitOfWork

__all__ = ("NoUnitOfWork", "Outbox", "OutboxMiddleware")


class NoUnitOfWork(RuntimeError):
    """A message was sent through the outbox with no unit of work open to store it in."""


class Outbox:
    """Writes outgoing messages to the outbox store, inside units of work.

    Args:
        store: The outbox store of the service's storage.
        routes: The topic of each message class (subclasses follow their
            nearest routed base): what :meth:`send` uses when no topic is
            given, and what :meth:`stage` forwards of the collected events.
        registry: Names the message classes.
    """

    def __init__(
        self,
        store: OutboxStore,
        routes: Mapping[type[Message], str] | None = None,
        *,
        registry: MessageRegistry = registry,
    ) -> None:
        self._store = store
        self._routes: dict[type[Message], str] = dict(routes or {})
        self._registry = registry
        self._staged: weakref.WeakKeyDictionary[UnitOfWork, int] = weakref.WeakKeyDictionary()
        self._watched: weakref.WeakSet[UnitOfWork] = weakref.WeakSet()
        self._listeners: list[Callable[[], object]] = []

    @property
    def store(self) -> OutboxStore:
        """The outbox store."""
        return self._store

    def on_commit(self, listener: Callable[[], object]) -> None:
        """Call ``listener`` each time a unit of work that wrote to the outbox commits.

        The service wakes its relay this way (``OutboxRelay.notify``), so a
        message is published as soon as its transaction commits, while the
        relay polls an idle outbox rarely.
        """
        self._listeners.append(listener)

    def _committed(self) -> None:
        for listener in self._listeners:
            listener()

    def _written(self, unit: UnitOfWork) -> None:
        if self._listeners and unit not in self._watched:
            self._watched.add(unit)
            unit.on_commit(self._committed)

    def route(self, message_type: type[Message], topic: str) -> None:
        """Send messages of ``message_type`` (and its subclasses) to ``topic``."""
        self._routes[message_type] = topic

    def topic_for(self, message_type: type[Message]) -> str | None:
        """The routed topic of ``message_type`` (its nearest routed class), or ``None``."""
        for klass in message_type.__mro__:
            topic = self._routes.get(klass)
            if topic is not None:
                return topic
        return None

    def _unit(self, uow: UnitOfWork | None) -> UnitOfWork:
        unit = uow if uow is not None else current_unit_of_work()
        if unit is None:
            raise NoUnitOfWork(
                "sending through the outbox needs a unit of work: send from a command "
                "handler, or pass uow="
            )
        return unit

    async def send(
        self,
        message: Message,
        *,
        topic: str | None = None,
        uow: UnitOfWork | None = None,
        message_id: str | None = None,
    ) -> Envelope:
        """Write ``message`` to the outbox in the transaction of ``uow`` (default: the current one).

        Args:
            message: The command or event.
            topic: Where to publish it (default: the route of its class).
            uow: The unit of work (default: the current one).
            message_id: A deterministic id instead of a new ``msg_<ULID>``:
                work that may run again (a saga step's action after a crash)
                passes the same id each time, so consumers see one message
                (their inbox skips the repeat) and the outbox refuses a second
                copy with ``DuplicateKey`` once the first one committed.

        Returns:
            The envelope stored: its ``message_id`` is what consumers see.

        Raises:
            NoUnitOfWork: No unit of work is given or current.
            LookupError: No topic is given and none is routed for the message's class.
            DuplicateKey: ``message_id`` is in the outbox already.
        """
        unit = self._unit(uow)
        chosen = topic or self.topic_for(type(message))
        if chosen is None:
            raise LookupError(f"no topic is routed for {type(message).__qualname__}")
        envelope = Envelope.wrap(message, registry=self._registry, message_id=message_id)
        await self._store.add([OutboxMessage(topic=chosen, envelope=envelope)], uow=unit)
        self._written(unit)
        return envelope

    async def stage(self, uow: UnitOfWork | None = None) -> int:
        """Write the routed events ``uow`` collected since the last call; return how many.

        Call it before the unit commits (:class:`OutboxMiddleware` does);
        events with no route are left to the in-process dispatcher alone.
        """
        unit = self._unit(uow)
        collected = unit.collected
        done = self._staged.get(unit, 0)
        pending = []
        for event in collected[done:]:
            topic = self.topic_for(type(event))
            if topic is not None:
                envelope = Envelope.wrap(event, registry=self._registry)
                pending.append(OutboxMessage(topic=topic, envelope=envelope))
        if pending:
            await self._store.add(pending, uow=unit)
            self._written(unit)
        self._staged[unit] = len(collected)
        return len(pending)


class OutboxMiddleware:
    """Writes the routed events a command's unit collected to the outbox, before the commit.

    Place it *after* (inside) :class:`~hexkernel.application.middleware.UnitOfWorkMiddleware`.

    Args:
        outbox: The outbox.
    """

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    async def __call__(self, message: Message, call_next: Next) -> Any:
        """Handle ``message``, then stage what its unit of work collected."""
        result = await call_next(message)
        if current_unit_of_work() is not None:
            await self._outbox.stage()
        return result
