"""The invalidation channel inside one process (the default, and the fake of tests).

Channels made on the same :class:`InvalidationHub` hear each other, so a test
can stand several "processes" (several authenticators) side by side; a
channel made without a hub only reaches its own listener, which is all a
single-process service needs.
"""

from collections.abc import Sequence

from hexkernel.core.ports.invalidation import Eviction

__all__ = ("InMemoryInvalidationChannel", "InvalidationHub")


class InvalidationHub:
    """What the channels of one hub share: their listeners."""

    def __init__(self) -> None:
        self.listeners: list[Eviction] = []


class InMemoryInvalidationChannel:
    """The :class:`~hexkernel.core.ports.invalidation.InvalidationChannel` in one process.

    Args:
        hub: The hub shared with other channels; a private one by default.
    """

    def __init__(self, hub: InvalidationHub | None = None) -> None:
        self._hub = hub if hub is not None else InvalidationHub()
        self._evict: Eviction | None = None

    async def publish(self, keys: Sequence[str] | None) -> None:
        """Call every listener of the hub with ``keys``, at once."""
        sent = tuple(keys) if keys is not None else None
        for evict in tuple(self._hub.listeners):
            evict(sent)

    async def listen(self, evict: Eviction) -> None:
        """Hear the hub's messages (and forget everything now, as at any connection)."""
        await self.close()
        self._evict = evict
        self._hub.listeners.append(evict)
        evict(None)

    async def close(self) -> None:
        """Stop listening."""
        if self._evict is not None:
            self._hub.listeners.remove(self._evict)
            self._evict = None
