"""The invalidation-channel port: tell the other processes of a service to forget cached entries.

A process that caches stored data (the authenticator's users) evicts an
entry at once when it writes the document itself (:mod:`hexkernel.core.writes`);
the service's other processes hear of it through a channel: each
:meth:`InvalidationChannel.publish` reaches every process listening on the
same channel, the publisher included.

Delivery is best effort, as a cache needs it: a process that was not
listening (starting, or cut off from the channel) misses the message, so
:meth:`InvalidationChannel.listen` calls ``evict(None)``, "forget
everything", whenever it (re)connects; a time to live on the entries bounds
what a lost message can cost.
"""

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

__all__ = ("Eviction", "InvalidationChannel")

Eviction = Callable[[tuple[str, ...] | None], None]
"""Forget the entries of these keys (``None``: every entry)."""


@runtime_checkable
class InvalidationChannel(Protocol):
    """Broadcasts evictions to every process listening on the same channel."""

    async def publish(self, keys: Sequence[str] | None) -> None:
        """Tell every listener to forget ``keys`` (``None``: everything).

        Raises:
            InfrastructureError: The channel cannot be reached (the caller
                logs it; the time to live still bounds staleness).
        """
        ...

    async def listen(self, evict: Eviction) -> None:
        """Start calling ``evict`` with the keys of every message, until :meth:`close`.

        Returns once listening has started; ``evict(None)`` is called at
        every (re)connection, as messages may have been missed.
        """
        ...

    async def close(self) -> None:
        """Stop listening and release the connections."""
        ...
