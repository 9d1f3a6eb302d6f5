"""The in-memory message broker: topics, consumer groups and pending lists in one process.

It models Redis Streams closely enough that the same contract suite runs on
both: a topic is an append-only list of entries with increasing ids; a group
keeps the index of the next new entry and a pending list of delivered,
unacknowledged entries (who has each, since when, how many deliveries). It
suits unit tests and single-process services; nothing survives the process.
"""

import asyncio
import contextlib
import time
from collections.abc import Callable

import attrs

from hexkernel.core.envelope import Envelope
from hexkernel.core.ports.message_broker import Delivery

__all__ = ("InMemoryBroker", "InMemorySubscription")


@attrs.define
class _Pending:
    consumer: str
    delivered_at: float
    count: int


@attrs.define
class _Group:
    next_index: int = 0
    pending: dict[int, _Pending] = attrs.Factory(dict)


@attrs.define
class _Topic:
    entries: list[Envelope] = attrs.Factory(list)
    groups: dict[str, _Group] = attrs.Factory(dict)
    arrived: asyncio.Condition | None = None


class InMemoryBroker:
    """The :class:`~hexkernel.core.ports.message_broker.MessageBroker` in process memory.

    Args:
        clock: Monotonic seconds (a seam for tests); ``time.monotonic`` by default.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._topics: dict[str, _Topic] = {}
        self._clock = clock

    def __repr__(self) -> str:
        return f"<InMemoryBroker {len(self._topics)} topics>"

    def _topic(self, name: str) -> _Topic:
        topic = self._topics.get(name)
        if topic is None:
            topic = self._topics[name] = _Topic()
        return topic

    async def publish(self, topic: str, envelope: Envelope) -> str:
        """Append ``envelope`` to ``topic``; return its entry id."""
        held = self._topic(topic)
        held.entries.append(envelope)
        if held.arrived is not None:
            async with held.arrived:
                held.arrived.notify_all()
        return str(len(held.entries) - 1)

    async def subscribe(
        self, topic: str, group: str, consumer: str, *, redeliver_after: float = 30.0
    ) -> "InMemorySubscription":
        """Join ``group`` on ``topic`` (created at the topic's beginning) as ``consumer``."""
        held = self._topic(topic)
        held.groups.setdefault(group, _Group())
        if held.arrived is None:
            held.arrived = asyncio.Condition()
        return InMemorySubscription(self, topic, group, consumer, redeliver_after)

    async def topic_length(self, topic: str) -> int:
        """How many messages ``topic`` holds."""
        return len(self._topic(topic).entries)

    async def close(self) -> None:
        """Nothing to release."""

    # ------------------------------------------------------ used by subscriptions
    def _take(  # noqa: PLR0917 - private, called from one place
        self, topic: str, group: str, consumer: str, limit: int, stale: float, own_after: int | None
    ) -> tuple[list[Delivery], int | None]:
        """Deliver up to ``limit`` entries; return them and the next own-pending cursor."""
        held = self._topics[topic]
        state = held.groups[group]
        now = self._clock()
        chosen: list[int] = []
        cursor = None
        if own_after is not None:
            own = [
                index
                for index, pending in sorted(state.pending.items())
                if pending.consumer == consumer and index > own_after
            ][:limit]
            chosen += own
            cursor = own[-1] if len(own) == limit else None
        for index, pending in sorted(state.pending.items()):
            if len(chosen) >= limit:
                break
            if index not in chosen and now - pending.delivered_at >= stale:
                chosen.append(index)
        while len(chosen) < limit and state.next_index < len(held.entries):
            chosen.append(state.next_index)
            state.next_index += 1
        out = []
        for index in chosen:
            pending = state.pending.get(index)
            count = 1 if pending is None else pending.count + 1
            state.pending[index] = _Pending(consumer, now, count)
            out.append(
                Delivery(
                    envelope=held.entries[index],
                    topic=topic,
                    group=group,
                    delivery_id=str(index),
                    attempt=count,
                )
            )
        return out, cursor

    def _ack(self, topic: str, group: str, delivery_id: str) -> None:
        self._topics[topic].groups[group].pending.pop(int(delivery_id), None)


class InMemorySubscription:
    """A consumer's membership of a group on an :class:`InMemoryBroker` topic."""

    def __init__(
        self,
        broker: InMemoryBroker,
        topic: str,
        group: str,
        consumer: str,
        redeliver_after: float,
    ) -> None:
        self._broker = broker
        self._topic = topic
        self._group = group
        self._consumer = consumer
        self._redeliver_after = redeliver_after
        self._own_cursor: int | None = -1  # first hand back this consumer's pending entries

    @property
    def topic(self) -> str:
        """The topic."""
        return self._topic

    @property
    def group(self) -> str:
        """The consumer group."""
        return self._group

    @property
    def consumer(self) -> str:
        """This consumer's name."""
        return self._consumer

    async def receive(self, *, limit: int = 10, wait: float = 1.0) -> list[Delivery]:
        """Up to ``limit`` deliveries: own pending first (once), then stale, then new ones."""
        deadline = time.monotonic() + wait
        arrived = self._broker._topics[self._topic].arrived  # noqa: SLF001 - the broker's own part
        assert arrived is not None  # noqa: S101 - made by subscribe()
        while True:
            found, self._own_cursor = self._broker._take(  # noqa: SLF001 - the broker's own part
                self._topic,
                self._group,
                self._consumer,
                limit,
                self._redeliver_after,
                self._own_cursor,
            )
            remaining = deadline - time.monotonic()
            if found or remaining <= 0:
                return found
            # Woken by a publish, or after a short while to look for stale entries.
            async with arrived:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        arrived.wait(), min(remaining, max(self._redeliver_after / 4, 0.01))
                    )

    async def ack(self, *deliveries: Delivery) -> None:
        """Acknowledge deliveries (as Redis does, whoever holds them now)."""
        for delivery in deliveries:
            self._broker._ack(self._topic, self._group, delivery.delivery_id)  # noqa: SLF001 - the broker's own part
