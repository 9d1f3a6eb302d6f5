"""Request-scoped context that interfaces set and the domain reads.

Interfaces (an HTTP middleware, a CLI command, a message consumer) bind the
acting principal for the duration of one unit of work (see
:mod:`hexkernel.core.security`); the ``CurrentUser`` generator of a Model and,
later, audit logging read its subject here. :func:`acting_as` binds a bare
user id, for scripts and tests.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from hexkernel.core.security import ANONYMOUS, Principal, as_principal, current_principal

__all__ = ("acting_as", "current_user")


def current_user() -> str | None:
    """Return the subject of the bound principal, or ``None`` when nobody is bound."""
    return current_principal().subject


@contextmanager
def acting_as(user: str | None) -> Iterator[None]:
    """Bind a principal with subject ``user`` (no roles) inside the ``with`` block.

    Example::

        with acting_as("usr_01J..."):
            task = Task(title="Write docs")   # task.owner == "usr_01J..."
    """
    with as_principal(ANONYMOUS if user is None else Principal(subject=user)):
        yield
