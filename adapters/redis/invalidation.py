"""The invalidation channel on Redis pub/sub: evictions reach every process of a service.

Each :meth:`RedisInvalidationChannel.publish` is one ``PUBLISH`` of a JSON
array of keys (``null``: forget everything) on the channel; every process
subscribed to it, the publisher included, evicts those keys. Pub/sub keeps no
history, which suits a cache: a process that was not subscribed has nothing
stale to evict when it subscribes, as it forgets everything at every
(re)subscription. When the connection drops, the listener retries with a
growing pause (up to ``max_retry_seconds``) and, once subscribed again,
forgets everything it cached; meanwhile entries still expire by their time to
live.
"""

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from hexkernel.adapters.redis.broker import translated
from hexkernel.core.ports.invalidation import Eviction

__all__ = ("RedisInvalidationChannel",)

log = logging.getLogger("hexkernel.security")


class RedisInvalidationChannel:
    """The :class:`~hexkernel.core.ports.invalidation.InvalidationChannel` on Redis pub/sub.

    Args:
        client: A ``redis.asyncio.Redis`` made with ``decode_responses=True``.
        channel: The pub/sub channel's name (one per service and cache).
        max_retry_seconds: The longest pause between two attempts to subscribe again.
    """

    def __init__(
        self, client: "aioredis.Redis", *, channel: str, max_retry_seconds: float = 5.0
    ) -> None:
        self._client = client
        self._channel = channel
        self._max_retry = max_retry_seconds
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_url(cls, url: str, *, channel: str, **options: Any) -> "RedisInvalidationChannel":
        """A channel on a new client for ``url`` (``redis://host:port/db``); it connects lazily."""
        client = aioredis.Redis.from_url(
            url, decode_responses=True, socket_timeout=5.0, socket_connect_timeout=5.0
        )
        return cls(client, channel=channel, **options)

    def __repr__(self) -> str:
        return f"<RedisInvalidationChannel {self._channel!r}>"

    @property
    def client(self) -> "aioredis.Redis":
        """The redis-py client."""
        return self._client

    async def publish(self, keys: Sequence[str] | None) -> None:
        """``PUBLISH`` the keys (``None``: everything) to every subscribed process."""
        payload = json.dumps(list(keys) if keys is not None else None)
        with translated("publishing an eviction"):
            await self._client.publish(self._channel, payload)

    async def listen(self, evict: Eviction) -> None:
        """Subscribe (waiting for the first subscription), then evict on every message."""
        await self._stop()
        pubsub = await self._subscribe()
        evict(None)
        self._task = asyncio.create_task(self._follow(pubsub, evict), name="hk-invalidation")

    async def _subscribe(self) -> "aioredis.client.PubSub":
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        try:
            with translated("subscribing to evictions"):
                await pubsub.subscribe(self._channel)
        except BaseException:
            await pubsub.aclose()
            raise
        return pubsub

    async def _follow(self, pubsub: "aioredis.client.PubSub", evict: Eviction) -> None:
        try:
            while True:
                try:
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            evict(_keys(message.get("data")))
                except (RedisError, OSError) as exc:
                    log.warning("evictions from Redis interrupted (%s); subscribing again", exc)
                await pubsub.aclose()
                pubsub = await self._subscribe_again()
                evict(None)  # messages may have been missed meanwhile
        finally:
            await pubsub.aclose()

    async def _subscribe_again(self) -> "aioredis.client.PubSub":
        pause = 0.1
        while True:
            await asyncio.sleep(pause)
            pause = min(pause * 2, self._max_retry)
            try:
                return await self._subscribe()
            except Exception as exc:  # noqa: BLE001 - any failure: try again later
                log.warning("cannot subscribe to evictions on Redis yet (%s)", exc)

    async def _stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def close(self) -> None:
        """Stop listening and close the client's connections."""
        await self._stop()
        await self._client.aclose()


def _keys(data: Any) -> tuple[str, ...] | None:
    """The keys of a message; anything malformed means "forget everything" (the safe side)."""
    try:
        value = json.loads(data)
    except (TypeError, ValueError):
        return None
    if isinstance(value, list) and all(isinstance(k, str) for k in value):
        return tuple(value)
    return None
