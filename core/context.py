"""Request-scoped context that interfaces set and the domain reads.

Interfaces (an HTTP middleware, a CLI command, a message consumer) bind the
acting user for the duration of one unit of work; the ``CurrentUser``
generator of a Model and, later, audit logging read it. A
:class:`contextvars.ContextVar` keeps concurrent requests apart, also across
``await`` points.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ("acting_as", "current_user")

_CURRENT_USER: ContextVar[str | None] = ContextVar("hexkernel_current_user", default=None)


def current_user() -> str | None:
    """Return the identifier of the acting user, or ``None`` when nobody is bound."""
    return _CURRENT_USER.get()


@contextmanager
def acting_as(user: str | None) -> Iterator[None]:
    """Bind ``user`` as the acting user inside the ``with`` block.

    Example::

        with acting_as("usr_01J..."):
            task = Task(title="Write docs")   # task.owner == "usr_01J..."
    """
    token = _CURRENT_USER.set(user)
    try:
        yield
    finally:
        _CURRENT_USER.reset(token)
