"""The cache of user lookups behind bearer authentication, evicted when a user is written.

Every authenticated request needs the caller's current roles, and whether the
user still exists. Reading the user each time costs a database round trip per
request; :class:`PrincipalCache` keeps each lookup for ``ttl`` seconds and
forgets it as soon as the user is written:

* in this process at once: the service registers :meth:`PrincipalCache.written`
  for the users' collection (:func:`hexkernel.core.writes.on_written`), so an
  update, replace, patch or delete through any repository of the users' Model
  evicts that user before the write returns (and again when a unit of work
  ends);
* in the service's other processes through an
  :class:`~hexkernel.core.ports.invalidation.InvalidationChannel` (Redis
  pub/sub), when one is configured: the eviction is published before the
  write returns, and each process evicts when the message arrives.

The time to live bounds what the cache can get wrong when the eviction cannot
arrive: a user changed outside the repositories (a database shell, another
service), a lost message, an unreachable channel.

A lookup that was running when an eviction arrived is returned to its request
but not cached: it may have read the document before the write.
"""

import logging
import time
from collections.abc import Callable, Iterable

from hexkernel.core.errors import HexkernelError
from hexkernel.core.ports.invalidation import InvalidationChannel
from hexkernel.core.security import Principal

__all__ = ("CacheEntry", "PrincipalCache")

log = logging.getLogger("hexkernel.security")

CacheEntry = tuple[float, Principal | None]
"""Until when (monotonic seconds) a lookup holds, and what it found (``None``: no such user)."""


class PrincipalCache:
    """User lookups by subject, for ``ttl`` seconds or until the user is written.

    Args:
        ttl: Seconds an entry is kept at most (> 0).
        channel: Broadcasts evictions to the service's other processes
            (``None``: this process only).
        max_entries: The bound on memory; past it, the entries are dropped.
        clock: Monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        ttl: float,
        *,
        channel: InvalidationChannel | None = None,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl <= 0:
            raise ValueError("a principal cache needs a positive time to live")
        self.ttl = ttl
        self.channel = channel
        self._max = max_entries
        self._clock = clock
        self._entries: dict[str, CacheEntry] = {}
        # Bumped by every eviction: a lookup that started before it is not cached.
        self._generation = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, subject: str) -> CacheEntry | None:
        """The live entry of ``subject`` (the same object until it is replaced), or ``None``."""
        entry = self._entries.get(subject)
        if entry is not None and entry[0] > self._clock():
            return entry
        return None

    @property
    def generation(self) -> int:
        """A number that changes at every eviction (take it before a lookup, give it to put)."""
        return self._generation

    def put(self, subject: str, found: Principal | None, generation: int) -> CacheEntry:
        """Remember a lookup made since ``generation``; returns the entry (cached or not)."""
        entry = (self._clock() + self.ttl, found)
        if generation != self._generation:
            return entry  # an eviction came while the lookup ran
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[subject] = entry
        return entry

    def evict(self, subjects: Iterable[str] | None) -> None:
        """Forget ``subjects`` in this process (``None``: everybody)."""
        self._generation += 1
        if subjects is None:
            self._entries.clear()
            return
        for subject in subjects:
            self._entries.pop(subject, None)

    async def written(self, subjects: tuple[str, ...] | None) -> None:
        """Users were written: evict them here, then tell the other processes.

        A channel that cannot be reached is logged, not raised: the write has
        happened, and the other processes' entries expire by their ttl.
        """
        self.evict(subjects)
        if self.channel is None:
            return
        try:
            await self.channel.publish(subjects)
        except HexkernelError as exc:
            log.warning(
                "cannot broadcast a user eviction (%s): other processes may serve the old "
                "user for up to %g s",
                exc,
                self.ttl,
            )

    async def start(self) -> None:
        """Start hearing the other processes' evictions (when there is a channel)."""
        if self.channel is not None:
            await self.channel.listen(self.evict)

    async def stop(self) -> None:
        """Stop hearing them and close the channel."""
        if self.channel is not None:
            await self.channel.close()
