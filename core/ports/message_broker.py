"""The message-broker port: topics, consumer groups, at-least-once delivery.

A producer *publishes* an :class:`~hexkernel.core.envelope.Envelope` to a
*topic* (a stream of messages kept in publishing order). A consumer
*subscribes* to a topic as a member of a named *group*: each message of the
topic is delivered to one member of each group, and every group sees every
message, whenever it subscribed (a new group starts at the beginning of the
topic). Delivery is **at least once**:

* a delivered message stays *pending* for its group until the consumer
  acknowledges it (:meth:`Subscription.ack`), normally after the effect of the
  message has been committed;
* a message left pending longer than the subscription's ``redeliver_after``
  (its consumer crashed, hangs or failed) is delivered again, to any member of
  the group;
* a consumer that restarts under the same name first receives again what it
  had been given and had not acknowledged.

So a message can arrive more than once (and a redelivered one after newer
ones): consumers make their effects idempotent (the inbox does that).
"""

from typing import Protocol, runtime_checkable

import attrs

from hexkernel.core.envelope import Envelope
from hexkernel.core.errors import InfrastructureError

__all__ = ("BrokerUnavailable", "Delivery", "MessageBroker", "Subscription")


class BrokerUnavailable(InfrastructureError):
    """The broker cannot be reached; the operation may be tried again later."""


@attrs.frozen(kw_only=True)
class Delivery:
    """One delivery of a message to a consumer.

    Attributes:
        envelope: The message.
        topic: The topic it was published to.
        group: The consumer group it was delivered to.
        delivery_id: The broker's id of the entry (what :meth:`Subscription.ack` names).
        attempt: How many times the message has been delivered to the group,
            this delivery included (1 the first time).
    """

    envelope: Envelope
    topic: str
    group: str
    delivery_id: str
    attempt: int = 1


@runtime_checkable
class Subscription(Protocol):
    """One consumer's membership of a group on a topic."""

    @property
    def topic(self) -> str:
        """The topic."""
        ...

    @property
    def group(self) -> str:
        """The consumer group."""
        ...

    @property
    def consumer(self) -> str:
        """This consumer's name in the group (stable across restarts)."""
        ...

    async def receive(self, *, limit: int = 10, wait: float = 1.0) -> list[Delivery]:
        """Return up to ``limit`` deliveries, waiting up to ``wait`` seconds for one.

        The consumer's own unacknowledged messages (after a restart) come
        first, then messages other members left pending for longer than
        ``redeliver_after``, then new messages in publishing order. An empty
        list means nothing arrived in time.

        Raises:
            BrokerUnavailable: The broker cannot be reached.
        """
        ...

    async def ack(self, *deliveries: Delivery) -> None:
        """Acknowledge deliveries: they will not be delivered to this group again.

        Acknowledging twice does nothing. A delivery taken over by another
        member meanwhile is acknowledged for the whole group.

        Raises:
            BrokerUnavailable: The broker cannot be reached.
        """
        ...


@runtime_checkable
class MessageBroker(Protocol):
    """Publishes envelopes to topics and hands them to consumer groups."""

    async def publish(self, topic: str, envelope: Envelope) -> str:
        """Append ``envelope`` to ``topic``; return the broker's id of the entry.

        Raises:
            BrokerUnavailable: The broker cannot be reached (the message may or
                may not have been published).
        """
        ...

    async def subscribe(
        self, topic: str, group: str, consumer: str, *, redeliver_after: float = 30.0
    ) -> Subscription:
        """Join ``group`` on ``topic`` as ``consumer``, creating the group if needed.

        Args:
            topic: The topic.
            group: The consumer group (one per consuming service, usually).
            consumer: This member's name: keep it stable across restarts of
                the same process slot, unique among the group's live members.
            redeliver_after: Seconds after which a message still pending for
                another member is delivered again.

        Raises:
            BrokerUnavailable: The broker cannot be reached.
        """
        ...

    async def topic_length(self, topic: str) -> int:
        """How many messages the topic holds (for tests and metrics)."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
