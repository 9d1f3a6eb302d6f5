"""Redis adapters: the message broker on Redis Streams (redis-py's asyncio client)."""

from hexkernel.adapters.redis.broker import RedisBroker, RedisSubscription

__all__ = ("RedisBroker", "RedisSubscription")
