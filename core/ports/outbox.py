"""The outbox and inbox ports: reliable messaging through the service's own store.

**Outbox.** A message that must leave the service when, and only when, a
state change commits is written to the outbox *in the same transaction* as
the change (:meth:`OutboxStore.add` with the unit of work). A relay then
*claims* unsent messages in order, publishes them and marks them sent. A claim
is a lease: until it expires no other relay takes those messages, so several
relay instances do not publish the same message in normal operation; a relay
that crashed loses its claims when they expire, and another one takes them
over. A relay can crash after publishing and before marking sent, so a
message may be published twice: delivery is at least once.

**Inbox.** An idempotent consumer records the id of every message it handles
in the same transaction as the effect of the message (:meth:`Inbox.record`),
and skips a message already recorded, so a redelivered message never takes
effect twice.
"""

import datetime as dt
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import attrs

from hexkernel.core.envelope import Envelope
from hexkernel.core.ports.unit_of_work import UnitOfWork

__all__ = ("Inbox", "OutboxMessage", "OutboxStore")


@attrs.frozen(kw_only=True)
class OutboxMessage:
    """A message waiting in the outbox (or already sent).

    Attributes:
        topic: Where the relay publishes it.
        envelope: The message; its ``message_id`` identifies the outbox entry.
    """

    topic: str
    envelope: Envelope

    @property
    def message_id(self) -> str:
        """The id of the message (and of its outbox entry)."""
        return self.envelope.message_id


@runtime_checkable
class OutboxStore(Protocol):
    """Where outgoing messages wait for the relay."""

    async def add(self, messages: Sequence[OutboxMessage], *, uow: UnitOfWork) -> None:
        """Write ``messages`` in the transaction of ``uow``: stored if and only if it commits.

        Raises:
            TypeError: ``uow`` is not a unit of work of this store's kind.
            DuplicateKey: A message id is in the outbox already (at the latest on commit).
        """
        ...

    async def claim(
        self, owner: str, *, limit: int = 100, lease: float = 30.0
    ) -> list[OutboxMessage]:
        """Claim up to ``limit`` unsent messages for ``lease`` seconds, oldest first.

        Messages claimed by another owner whose lease has not expired are
        skipped; expired claims are taken over. Messages are ordered by id,
        which is their creation time.

        Args:
            owner: A name unique to the calling relay instance.
            limit: How many messages at most.
            lease: Seconds until the claim expires.
        """
        ...

    async def mark_sent(self, message_ids: Sequence[str]) -> None:
        """Mark messages as sent (published) and drop the claims on them."""
        ...

    async def release(self, owner: str, message_ids: Sequence[str]) -> None:
        """Give up ``owner``'s claims on unsent messages (they can be claimed again at once)."""
        ...

    async def unsent(self) -> int:
        """How many messages have not been marked sent."""
        ...

    async def purge_sent(self, before: dt.datetime) -> int:
        """Delete messages marked sent before ``before``; return how many."""
        ...


@runtime_checkable
class Inbox(Protocol):
    """Remembers which messages each consumer has handled."""

    async def record(self, consumer: str, message_id: str, *, uow: UnitOfWork) -> bool:
        """Record, in the transaction of ``uow``, that ``consumer`` handles ``message_id``.

        Returns:
            ``False`` when the message was recorded already by a committed
            transaction (skip it); ``True`` otherwise. If two transactions
            record the same message concurrently, at most one of them commits:
            the other fails with a transient ``ConcurrencyConflict`` (or
            ``DuplicateKey``) and, run again, gets ``False``.

        Raises:
            TypeError: ``uow`` is not a unit of work of this store's kind.
        """
        ...

    async def handled(self, consumer: str, message_id: str) -> bool:
        """Whether ``consumer`` has handled ``message_id`` (a committed record exists)."""
        ...
