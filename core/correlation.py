"""The correlation id of the work in progress, shared by logs, messages and handlers.

An interface (an HTTP request, a consumed message) binds the id it received, or a
new one, with :func:`correlated`; the message buses bind one for every message
they handle when none is bound, log it, and store it with the events appended
meanwhile, so that one request can be followed through every service it touches.
A :class:`contextvars.ContextVar` keeps concurrent tasks apart.
"""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ("correlated", "correlation_id", "new_correlation_id")

_CORRELATION_ID: ContextVar[str | None] = ContextVar("hexkernel_correlation_id", default=None)


def new_correlation_id() -> str:
    """Return a fresh random correlation id (32 hex digits)."""
    return uuid.uuid4().hex


def correlation_id() -> str | None:
    """Return the correlation id bound in this context, or ``None``."""
    return _CORRELATION_ID.get()


@contextmanager
def correlated(value: str | None = None) -> Iterator[str]:
    """Bind ``value`` (or the id already bound, or a new one) inside the ``with`` block.

    Yields:
        The correlation id in force.
    """
    chosen = value or _CORRELATION_ID.get() or new_correlation_id()
    token = _CORRELATION_ID.set(chosen)
    try:
        yield chosen
    finally:
        _CORRELATION_ID.reset(token)
