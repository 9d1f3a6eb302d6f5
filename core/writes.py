"""Notices of writes: who wants to know that documents of a collection changed in this process.

A cache of stored data (the authenticator's cache of users, say) must forget
an entry as soon as its document is written. The repositories announce each
successful write with :func:`written`, naming the collection and the keys of
the documents (``None`` when a multi-document update changed an unknown set);
a cache registers with :func:`on_written`. Nothing is announced for a
collection nobody listens to, so the cost of an ordinary write is one dict
lookup.

Inside a unit of work the write is announced at once *and* again when the
unit of work ends (:func:`collect_writes`): between the write and the
commit, other requests still read the old document and may cache it again.

Writes made outside this process, or around the repositories (a shell, a
migration script), are not announced: caches keep a time to live for them.

Example::

    remove = on_written(User, cache.forget)   # async def forget(keys) -> None
    ...
    remove()
"""

import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

__all__ = ("CollectedWrites", "WriteListener", "collect_writes", "on_written", "written")

log = logging.getLogger("hexkernel")

WriteListener = Callable[[tuple[str, ...] | None], Awaitable[None]]
"""Called with the keys of the documents written, or ``None`` for "some, unknown which"."""

_LISTENERS: dict[str, tuple[WriteListener, ...]] = {}
_PENDING: ContextVar[list[tuple[str, tuple[str, ...] | None]] | None] = ContextVar(
    "hexkernel_pending_writes", default=None
)


def _collection(model: type[Any]) -> str:
    return str(model.__model__.collection)


def on_written(model: type[Any], listener: WriteListener) -> Callable[[], None]:
    """Call ``listener`` after every write of ``model``'s collection in this process.

    The collection counts, not the class: a subclass stored in the same
    collection is announced too.

    Returns:
        The function that removes the listener again.
    """
    collection = _collection(model)
    _LISTENERS[collection] = (*_LISTENERS.get(collection, ()), listener)

    def remove() -> None:
        rest = tuple(other for other in _LISTENERS.get(collection, ()) if other is not listener)
        if rest:
            _LISTENERS[collection] = rest
        else:
            _LISTENERS.pop(collection, None)

    return remove


async def written(model: type[Any], keys: tuple[str, ...] | None) -> None:
    """Announce that documents of ``model``'s collection were (or may have been) written.

    A listener that raises is logged and does not stop the others: the write
    itself has happened.
    """
    collection = _collection(model)
    listeners = _LISTENERS.get(collection)
    if not listeners:
        return
    pending = _PENDING.get()
    if pending is not None:
        pending.append((collection, keys))
    await _tell(listeners, keys)


async def _tell(listeners: tuple[WriteListener, ...], keys: tuple[str, ...] | None) -> None:
    for listener in listeners:
        try:
            await listener(keys)
        except Exception:
            log.exception("a write listener failed (the write itself is done)")


class CollectedWrites:
    """The writes announced in one context since :func:`collect_writes` (a unit of work's)."""

    def __init__(self) -> None:
        self._writes: list[tuple[str, tuple[str, ...] | None]] = []
        self._token = _PENDING.set(self._writes)

    def stop(self) -> None:
        """Stop collecting (in the context that started it)."""
        _PENDING.reset(self._token)

    async def announce_again(self) -> None:
        """Announce every collected write once more (once the transaction has ended)."""
        for collection, keys in self._writes:
            listeners = _LISTENERS.get(collection)
            if listeners:
                pending = _PENDING.get()
                if pending is not None:  # an enclosing unit of work hears of it too
                    pending.append((collection, keys))
                await _tell(listeners, keys)
        self._writes.clear()


def collect_writes() -> CollectedWrites:
    """Start collecting the writes announced in this context, to announce them again later."""
    return CollectedWrites()
