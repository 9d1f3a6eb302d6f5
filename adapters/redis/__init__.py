"""Redis adapters: the broker on Redis Streams, cache evictions on pub/sub (redis-py asyncio)."""

from hexkernel.adapters.redis.broker import RedisBroker, RedisSubscription
from hexkernel.adapters.redis.invalidation import RedisInvalidationChannel

__all__ = ("RedisBroker", "RedisInvalidationChannel", "RedisSubscription")
