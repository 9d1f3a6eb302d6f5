"""The principal cache: kept for its ttl, evicted at once when a user is written, everywhere."""

import logging

import pytest

from hexkernel.adapters.memory.invalidation import InMemoryInvalidationChannel, InvalidationHub
from hexkernel.application.principals import PrincipalCache
from hexkernel.core.errors import InfrastructureError
from hexkernel.core.security import Principal

pytestmark = pytest.mark.anyio

ANN = Principal(subject="usr_ann", roles={"user"})


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_an_entry_lives_for_the_ttl():
    clock = Clock()
    cache = PrincipalCache(10, clock=clock)
    entry = cache.put("usr_ann", ANN, cache.generation)
    assert cache.get("usr_ann") is entry
    clock.now += 9.9
    assert cache.get("usr_ann") is entry
    clock.now += 0.2
    assert cache.get("usr_ann") is None


def test_eviction_forgets_the_subjects_or_everybody():
    cache = PrincipalCache(10)
    for subject in ("usr_ann", "usr_bob", "usr_cy"):
        cache.put(subject, Principal(subject=subject), cache.generation)
    cache.evict(["usr_ann"])
    assert cache.get("usr_ann") is None
    assert cache.get("usr_bob") is not None
    cache.evict(None)
    assert len(cache) == 0


def test_a_lookup_overtaken_by_an_eviction_is_not_cached():
    cache = PrincipalCache(10)
    started = cache.generation
    cache.evict(["usr_ann"])  # the user was written while the lookup ran
    entry = cache.put("usr_ann", ANN, started)
    assert entry[1] is ANN  # the request still gets what was read
    assert cache.get("usr_ann") is None


def test_a_zero_ttl_is_no_cache():
    with pytest.raises(ValueError, match="positive"):
        PrincipalCache(0)


async def test_evictions_reach_every_cache_of_the_hub_the_writer_included():
    hub = InvalidationHub()
    here = PrincipalCache(60, channel=InMemoryInvalidationChannel(hub))
    there = PrincipalCache(60, channel=InMemoryInvalidationChannel(hub))
    for cache in (here, there):
        await cache.start()
        cache.put("usr_ann", ANN, cache.generation)
        cache.put("usr_bob", Principal(subject="usr_bob"), cache.generation)
    await here.written(("usr_ann",))
    assert here.get("usr_ann") is None
    assert there.get("usr_ann") is None
    assert there.get("usr_bob") is not None
    await there.stop()
    there.put("usr_ann", ANN, there.generation)
    await here.written(("usr_ann",))
    assert there.get("usr_ann") is not None  # no longer listening
    await here.stop()


class Unreachable:
    async def publish(self, _keys):
        raise InfrastructureError("redis is down")

    async def listen(self, evict):
        evict(None)

    async def close(self):
        pass


async def test_an_unreachable_channel_is_logged_and_the_local_eviction_stands(caplog):
    cache = PrincipalCache(60, channel=Unreachable())
    cache.put("usr_ann", ANN, cache.generation)
    with caplog.at_level(logging.WARNING, logger="hexkernel.security"):
        await cache.written(("usr_ann",))
    assert cache.get("usr_ann") is None
    assert "cannot broadcast a user eviction" in caplog.text
