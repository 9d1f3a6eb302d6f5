"""The message broker on Redis Streams, with redis-py's asyncio client.

A topic is a stream (key ``<prefix><topic>``); each entry holds one field,
``envelope``, the envelope's JSON. The port maps onto Streams one to one:

* ``publish``: ``XADD`` (the entry id Redis assigns is returned);
* ``subscribe``: ``XGROUP CREATE ... 0 MKSTREAM``, so a new group starts at
  the beginning of the topic (an existing group is kept as it is);
* ``receive``: first, once after subscribing, ``XREADGROUP`` from id ``0``
  re-reads this consumer's own pending entries (what it had been given before
  a restart); then ``XAUTOCLAIM`` takes over entries left pending by any
  member for longer than ``redeliver_after``; then ``XREADGROUP >`` reads new
  entries, blocking up to ``wait``;
* ``ack``: ``XACK``.

Delivery counts of redelivered entries come from ``XPENDING`` (Redis
increments them on every delivery). Driver errors are translated in one place,
:func:`translated`: connection problems and timeouts become
:class:`~hexkernel.core.ports.message_broker.BrokerUnavailable`.

Streams are not trimmed: every published entry is kept until someone trims
the stream (``XTRIM``), so that a group created later still sees everything.
"""

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from hexkernel.core.envelope import Envelope
from hexkernel.core.errors import ValidationError
from hexkernel.core.ports.message_broker import BrokerUnavailable, Delivery

__all__ = ("RedisBroker", "RedisSubscription", "translated")

_FIELD = "envelope"

log = logging.getLogger("hexkernel.broker")


@contextlib.contextmanager
def translated(doing: str) -> Iterator[None]:
    """Turn redis-py's connection errors into ``BrokerUnavailable`` (chained)."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise BrokerUnavailable(f"Redis cannot be reached while {doing}") from exc


class RedisBroker:
    """The :class:`~hexkernel.core.ports.message_broker.MessageBroker` on Redis Streams.

    Args:
        client: A ``redis.asyncio.Redis`` made with ``decode_responses=True``.
        prefix: Put before every topic name to make its stream key.
    """

    def __init__(self, client: "aioredis.Redis", *, prefix: str = "hk:") -> None:
        self._client = client
        self._prefix = prefix

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "hk:", **options: Any) -> "RedisBroker":
        """A broker on a new client for ``url`` (``redis://host:port/db``); it connects lazily."""
        client = aioredis.Redis.from_url(url, decode_responses=True, **options)
        return cls(client, prefix=prefix)

    def __repr__(self) -> str:
        return f"<RedisBroker prefix={self._prefix!r}>"

    @property
    def client(self) -> "aioredis.Redis":
        """The redis-py client."""
        return self._client

    def key(self, topic: str) -> str:
        """The stream key of ``topic``."""
        return f"{self._prefix}{topic}"

    async def publish(self, topic: str, envelope: Envelope) -> str:
        """``XADD`` the envelope to the topic's stream; return the entry id."""
        with translated("publishing"):
            entry_id: str = await self._client.xadd(self.key(topic), {_FIELD: envelope.to_json()})
        return entry_id

    async def subscribe(
        self, topic: str, group: str, consumer: str, *, redeliver_after: float = 30.0
    ) -> "RedisSubscription":
        """Create the group at the stream's beginning unless it exists; join it as ``consumer``."""
        with translated("creating a consumer group"):
            try:
                await self._client.xgroup_create(self.key(topic), group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        return RedisSubscription(self, topic, group, consumer, redeliver_after)

    async def topic_length(self, topic: str) -> int:
        """``XLEN`` of the topic's stream."""
        with translated("reading a stream's length"):
            return int(await self._client.xlen(self.key(topic)))

    async def close(self) -> None:
        """Close the client's connections."""
        with contextlib.suppress(RedisError, OSError):
            await self._client.aclose()


class RedisSubscription:
    """A consumer's membership of a group on a Redis stream."""

    def __init__(
        self, broker: RedisBroker, topic: str, group: str, consumer: str, redeliver_after: float
    ) -> None:
        self._client = broker.client
        self._key = broker.key(topic)
        self._topic = topic
        self._group = group
        self._consumer = consumer
        self._idle_ms = max(int(redeliver_after * 1000), 1)
        self._own_cursor: str | None = "0"  # re-read own pending entries first, once
        self._claim_cursor = "0-0"
        self._unusable: list[str] = []

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
        """Own pending entries (once), then stale ones (``XAUTOCLAIM``), then new ones."""
        with translated("receiving"):
            out: list[Delivery] = []
            if self._own_cursor is not None:
                own = await self._read(self._own_cursor, limit, block=None)
                self._own_cursor = own[-1][0] if len(own) == limit else None
                out += await self._counted(own)
            if len(out) < limit:
                out += await self._counted(await self._claim(limit - len(out)))
            if len(out) < limit:
                block = None if out or wait <= 0 else max(int(wait * 1000), 1)
                fresh = await self._read(">", limit - len(out), block=block)
                out += [
                    delivery
                    for entry_id, fields in fresh
                    if (delivery := self._delivery(entry_id, fields, 1)) is not None
                ]
            if self._unusable:
                # Deleted or foreign entries can never be handled: settle them.
                unusable, self._unusable = self._unusable, []
                log.warning("acknowledging %d unreadable entries of %s", len(unusable), self._key)
                await self._client.xack(self._key, self._group, *unusable)
            return out

    async def ack(self, *deliveries: Delivery) -> None:
        """``XACK`` the deliveries."""
        if deliveries:
            with translated("acknowledging"):
                await self._client.xack(
                    self._key, self._group, *(d.delivery_id for d in deliveries)
                )

    # ------------------------------------------------------------------ helpers
    async def _read(
        self, start: str, count: int, *, block: int | None
    ) -> list[tuple[str, dict[str, str]]]:
        answer = await self._client.xreadgroup(
            self._group, self._consumer, {self._key: start}, count=count, block=block
        )
        return [(entry_id, fields) for _, entries in answer or [] for entry_id, fields in entries]

    async def _claim(self, count: int) -> list[tuple[str, dict[str, str]]]:
        answer = await self._client.xautoclaim(
            self._key,
            self._group,
            self._consumer,
            min_idle_time=self._idle_ms,
            start_id=self._claim_cursor,
            count=count,
        )
        self._claim_cursor = answer[0]
        return list(answer[1])

    async def _counted(self, entries: Sequence[tuple[str, dict[str, str]]]) -> list[Delivery]:
        """Deliveries of redelivered entries, with their delivery counts from ``XPENDING``."""
        if not entries:
            return []
        async with self._client.pipeline(transaction=False) as pipe:
            for entry_id, _ in entries:
                pipe.xpending_range(self._key, self._group, min=entry_id, max=entry_id, count=1)
            answers = await pipe.execute()
        out = []
        for (entry_id, fields), pending in zip(entries, answers, strict=True):
            count = int(pending[0]["times_delivered"]) if pending else 1
            delivery = self._delivery(entry_id, fields, count)
            if delivery is not None:
                out.append(delivery)
        return out

    def _delivery(
        self, entry_id: str, fields: dict[str, str] | None, attempt: int
    ) -> Delivery | None:
        text = (fields or {}).get(_FIELD)
        try:
            # No text: the entry was deleted from the stream (XDEL, XTRIM) while pending.
            envelope = Envelope.from_json(text) if text is not None else None
        except ValidationError:
            envelope = None
        if envelope is None:
            self._unusable.append(entry_id)
            return None
        return Delivery(
            envelope=envelope,
            topic=self._topic,
            group=self._group,
            delivery_id=entry_id,
            attempt=attempt,
        )
