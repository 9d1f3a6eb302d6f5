"""The outbox relay: publishes what the outbox holds, then marks it sent.

Each round the relay *claims* a batch of unsent messages (oldest first, for a
lease of ``lease`` seconds), publishes them to the broker one by one in that
order, and marks the published ones sent. Several relays can run (one per
replica of a service): a claim keeps the others off those messages until it
expires, so in normal operation no message is published twice. A relay that
dies loses its claims when the lease runs out, and another relay publishes
them.

Delivery is **at least once**: a relay that dies after publishing and before
marking sent leaves the message to be published again. Consumers therefore
de-duplicate by message id (the inbox of
:class:`~hexkernel.application.consumers.ConsumerRunner`).

The relay polls the outbox: at once while batches come back full, after
``poll_interval`` seconds when one comes back short, and, while the outbox
stays empty, ever less often (the pause doubles up to ``idle_poll_interval``).
:meth:`OutboxRelay.notify` wakes it at once and starts the pauses over; a
service calls it when a unit of work that wrote to its outbox commits
(``Outbox.on_commit``), so a message is published right after its commit
however long the relay has been idle, and an idle service does not spend its
CPU asking an empty outbox. Messages written by other processes, or left by a
relay that died, are found by the next poll. :meth:`OutboxRelay.start` and
:meth:`OutboxRelay.stop` run it in the background for an application's lifespan.
"""

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Sequence

from hexkernel.application._background import BackgroundWorker, raise_if_stopping
from hexkernel.core.ports.message_broker import MessageBroker
from hexkernel.core.ports.outbox import OutboxMessage, OutboxStore

__all__ = ("AfterPublish", "OutboxRelay")

log = logging.getLogger("hexkernel.outbox")

AfterPublish = Callable[[Sequence[OutboxMessage]], Awaitable[None]]
"""Called with a published batch before it is marked sent (a seam for crash tests)."""


def _default_owner() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class OutboxRelay(BackgroundWorker):
    """Moves messages from the outbox store to the broker.

    Args:
        store: The outbox store.
        broker: Where messages are published.
        owner: This relay's name in its claims (default: host name and process id).
        batch_size: How many messages one claim takes at most.
        lease: Seconds a claim keeps other relays off its messages; longer
            than publishing a batch takes, and than the clock skew between hosts.
        poll_interval: Seconds to wait after a short batch.
        idle_poll_interval: The longest wait while the outbox stays empty
            (the wait doubles from ``poll_interval`` up to it).
        retention: Seconds sent messages are kept before they are deleted
            (``None``: never delete them).
        after_publish: Awaited after a batch is published and before it is
            marked sent.
    """

    def __init__(
        self,
        store: OutboxStore,
        broker: MessageBroker,
        *,
        owner: str | None = None,
        batch_size: int = 100,
        lease: float = 30.0,
        poll_interval: float = 0.2,
        idle_poll_interval: float = 2.0,
        retention: float | None = 86_400.0,
        after_publish: AfterPublish | None = None,
    ) -> None:
        self._store = store
        self._broker = broker
        self._owner = owner or _default_owner()
        self._batch = batch_size
        self._lease = lease
        self._poll = poll_interval
        self._idle_poll = max(idle_poll_interval, poll_interval)
        self._retention = retention
        self._after_publish = after_publish
        self._purged_at = float("-inf")
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    @property
    def owner(self) -> str:
        """This relay's name in its claims."""
        return self._owner

    async def relay_once(self) -> int:
        """Claim one batch, publish it in order and mark it sent; return how many were published.

        If publishing fails part-way, the messages published so far are marked
        sent, the claims on the others are released, and the error is raised.
        """
        claimed = await self._store.claim(self._owner, limit=self._batch, lease=self._lease)
        published: list[OutboxMessage] = []
        try:
            for message in claimed:
                await self._broker.publish(message.topic, message.envelope)
                published.append(message)
        except BaseException:
            with contextlib.suppress(Exception):
                await self._store.mark_sent([m.message_id for m in published])
                await self._store.release(
                    self._owner, [m.message_id for m in claimed[len(published) :]]
                )
            raise
        if published and self._after_publish is not None:
            await self._after_publish(published)
        await self._store.mark_sent([m.message_id for m in published])
        return len(published)

    async def drain(self) -> int:
        """Relay batches until the outbox has nothing claimable; return how many were published."""
        total = 0
        while handled := await self.relay_once():
            total += handled
        return total

    async def purge(self) -> int:
        """Delete messages sent longer than ``retention`` ago; return how many."""
        if self._retention is None:
            return 0
        before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=self._retention)
        return await self._store.purge_sent(before)

    def notify(self) -> None:
        """Tell :meth:`follow` that messages were committed (it polls anyway)."""
        self._wake.set()

    async def follow(self) -> None:
        """Relay until cancelled; failures are logged and retried after a growing pause."""
        pause = idle = self._poll
        while True:
            try:
                handled = await self.relay_once()
                if self._retention is not None and time.monotonic() - self._purged_at > 60:  # noqa: PLR2004 - once a minute
                    self._purged_at = time.monotonic()
                    await self.purge()
            except Exception:
                raise_if_stopping()
                log.exception("relaying the outbox failed; trying again in %.2f s", pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)
                continue
            pause = self._poll
            if handled >= self._batch:
                idle = self._poll
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), idle)
            if self._wake.is_set():
                self._wake.clear()
                idle = self._poll
            elif handled == 0:
                idle = min(idle * 2, self._idle_poll)
            else:
                idle = self._poll

    def _task_name(self) -> str:
        return "hexkernel-outbox-relay"

    async def stop(self) -> None:
        """Stop relaying (a batch being published is left to its lease)."""
        await super().stop()
