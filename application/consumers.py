"""Idempotent consumers: broker messages handled exactly once in effect.

A :class:`ConsumerRunner` subscribes to topics as a consumer group and, for
every delivery, opens **one** unit of work in which it

1. records the message id in the inbox (:class:`~hexkernel.core.ports.outbox.Inbox`);
   if the id is recorded already, the message took effect before: nothing else
   happens;
2. runs the handler of the message's class, with the unit as the current one
   (so the handler's repositories, the event-sourced repository and commands it
   dispatches on the command bus all write in it, and messages it sends through
   the :class:`~hexkernel.application.outbox.Outbox` are stored in it);
3. writes the routed events the unit collected to the outbox.

It acknowledges the delivery only after the unit committed, and then hands the
collected events to the event dispatcher. The inbox record and the effects
commit together or not at all, so a redelivered message (the broker delivers
at least once) never repeats an effect, and a crash anywhere leaves either
nothing done (the message comes back) or everything done and recorded (the
message comes back and is skipped).

A handler that fails leaves the message unacknowledged: the broker delivers it
again after ``redeliver_after`` seconds. With ``max_attempts``, a message that
failed that many times is published to ``<topic>.dead-letter`` and
acknowledged. A message whose type is unknown here, or whose data does not fit
its class, goes there at once; a message of a known class that has no handler
in this runner is acknowledged and ignored (topics carry more than one
consumer needs).
"""

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import tenacity

from hexkernel.application._background import BackgroundWorker, raise_if_stopping
from hexkernel.application.dispatcher import EventDispatcher
from hexkernel.application.middleware import using_unit_of_work
from hexkernel.application.outbox import Outbox
from hexkernel.core.correlation import correlated
from hexkernel.core.envelope import caused_by
from hexkernel.core.errors import ConcurrencyConflict, DuplicateKey, ValidationError
from hexkernel.core.messages import Message, MessageRegistry, registry
from hexkernel.core.ports.message_broker import Delivery, MessageBroker, Subscription
from hexkernel.core.ports.outbox import Inbox
from hexkernel.core.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory

__all__ = ("ConsumerRunner", "MessageHandler")

log = logging.getLogger("hexkernel.consumers")

MessageHandler = Callable[[Any], Awaitable[Any]]
"""An async callable taking one consumed message (its class is the registry's)."""


class ConsumerRunner(BackgroundWorker):
    """Consumes topics as a group, handling each message once in effect.

    Args:
        broker: Where messages come from.
        uow_factory: Opens the unit of work of each message.
        inbox: Records handled message ids (in the same store as the effects).
        group: The consumer group, and the inbox's name for this consumer:
            one per consuming service and purpose (``"customers"``).
        topics: The topics to consume.
        handlers: The handler of each message class (a message follows its
            nearest handled class, so a handler of ``Event`` receives every event).
        consumer: This member's name in the group (default: host name and
            process id); a stable name lets a restarted process take back its
            unacknowledged messages at once instead of after ``redeliver_after``.
        dispatcher: Receives the events each unit collected, after its commit.
        outbox: Writes the routed collected events with the unit.
        registry: Rebuilds messages from their type names.
        batch_size: Deliveries taken per receive.
        wait: Seconds a receive waits for messages.
        redeliver_after: Seconds after which a message left unacknowledged is
            delivered again.
        max_attempts: Deliveries of one message before it is dead-lettered
            (``None``: never).
        attempts: Runs of a unit that meets a concurrency conflict before the
            delivery is left to redelivery.
    """

    def __init__(
        self,
        broker: MessageBroker,
        uow_factory: UnitOfWorkFactory,
        inbox: Inbox,
        *,
        group: str,
        topics: Sequence[str],
        handlers: Mapping[type[Message], MessageHandler],
        consumer: str | None = None,
        dispatcher: EventDispatcher | None = None,
        outbox: Outbox | None = None,
        registry: MessageRegistry = registry,
        batch_size: int = 10,
        wait: float = 1.0,
        redeliver_after: float = 30.0,
        max_attempts: int | None = None,
        attempts: int = 5,
    ) -> None:
        self._broker = broker
        self._uow_factory = uow_factory
        self._inbox = inbox
        self._group = group
        self._topics = tuple(topics)
        self._handlers = dict(handlers)
        self._consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self._dispatcher = dispatcher
        self._outbox = outbox
        self._registry = registry
        self._batch = batch_size
        self._wait = wait
        self._redeliver_after = redeliver_after
        self._max_attempts = max_attempts
        self._attempts = attempts
        self._subscriptions: list[Subscription] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def group(self) -> str:
        """The consumer group (and inbox name)."""
        return self._group

    @property
    def topics(self) -> tuple[str, ...]:
        """The topics consumed."""
        return self._topics

    def handler_for(self, message_type: type[Message]) -> MessageHandler | None:
        """The handler of ``message_type`` (its nearest handled class), or ``None``."""
        for klass in message_type.__mro__:
            handler = self._handlers.get(klass)
            if handler is not None:
                return handler
        return None

    async def _subscribed(self) -> list[Subscription]:
        if not self._subscriptions:
            self._subscriptions = [
                await self._broker.subscribe(
                    topic, self._group, self._consumer, redeliver_after=self._redeliver_after
                )
                for topic in self._topics
            ]
        return self._subscriptions

    async def run_once(self, *, wait: float | None = None) -> int:
        """Receive one batch from each topic and handle it; return the number of deliveries."""
        subscriptions = await self._subscribed()
        share = (self._wait if wait is None else wait) / max(len(subscriptions), 1)
        count = 0
        for subscription in subscriptions:
            deliveries = await subscription.receive(limit=self._batch, wait=share)
            for delivery in deliveries:
                await self.handle(subscription, delivery)
            count += len(deliveries)
        return count

    async def handle(self, subscription: Subscription, delivery: Delivery) -> bool:
        """Handle one delivery and acknowledge it once its effect is committed.

        Returns:
            Whether the delivery was acknowledged (handled now, handled
            before, ignored or dead-lettered); ``False`` when the handler
            failed and the message is left to redelivery.
        """
        envelope = delivery.envelope
        with correlated(envelope.correlation_id), caused_by(envelope.message_id):
            try:
                message = envelope.open(self._registry)
            except (LookupError, ValidationError) as exc:
                log.warning(
                    "cannot read message %s of type %s on %s (%s): dead-lettered",
                    envelope.message_id,
                    envelope.type,
                    delivery.topic,
                    type(exc).__name__,
                )
                await self._dead_letter(subscription, delivery)
                return True
            handler = self.handler_for(type(message))
            if handler is None:
                await subscription.ack(delivery)
                return True
            try:
                units = await self._run(handler, message, envelope.message_id)
            except Exception:
                log.exception(
                    "handling %s (message %s, attempt %d) failed",
                    envelope.type,
                    envelope.message_id,
                    delivery.attempt,
                )
                if self._max_attempts is not None and delivery.attempt >= self._max_attempts:
                    await self._dead_letter(subscription, delivery)
                    return True
                return False
            await subscription.ack(delivery)
            if units and self._dispatcher is not None:
                await self._dispatcher.publish(units[-1].collected)
            return True

    async def _run(
        self, handler: MessageHandler, message: Message, message_id: str
    ) -> list[UnitOfWork]:
        """Run the handler with the inbox record in one unit; the units used when it took effect."""
        units: list[UnitOfWork] = []

        async def work(uow: UnitOfWork) -> bool:
            if not await self._inbox.record(self._group, message_id, uow=uow):
                return False  # handled before: the redelivery changes nothing
            with using_unit_of_work(uow):
                await handler(message)
                if self._outbox is not None:
                    await self._outbox.stage(uow)
            units.append(uow)
            return True

        took_effect = False
        async for attempt in tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception_type((ConcurrencyConflict, DuplicateKey)),
            stop=tenacity.stop_after_attempt(self._attempts),
            wait=tenacity.wait_random_exponential(multiplier=0.005, max=0.2),
            reraise=True,
        ):
            with attempt:
                units.clear()
                took_effect = await self._uow_factory.run(work)
        return units if took_effect else []

    async def _dead_letter(self, subscription: Subscription, delivery: Delivery) -> None:
        await self._broker.publish(f"{delivery.topic}.dead-letter", delivery.envelope)
        await subscription.ack(delivery)

    async def follow(self) -> None:
        """Consume until cancelled; broker failures are logged and retried after a pause."""
        pause = 0.1
        while True:
            try:
                await self.run_once()
            except Exception:
                raise_if_stopping()
                log.exception("consuming %s failed; trying again in %.2f s", self._topics, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)
                continue
            pause = 0.1

    def _task_name(self) -> str:
        return f"hexkernel-consumer-{self._group}"

    async def stop(self) -> None:
        """Stop consuming (a message being handled rolls back and will be delivered again)."""
        await super().stop()
