"""The unit-of-work port: several writes that commit or roll back together."""

from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Protocol, Self, TypeVar, runtime_checkable

from hexkernel.core.messages import Event
from hexkernel.core.ports.repository import Repository

__all__ = ("UnitOfWork", "UnitOfWorkFactory")

M = TypeVar("M")
R = TypeVar("R")


@runtime_checkable
class UnitOfWork(Protocol):
    """One transaction, used as an async context manager.

    Example::

        async with uow_factory() as uow:
            tasks = uow.repository(Task)
            await tasks.insert(task)
            ...                      # commit on success, roll back on an exception

    Repositories obtained from it (and the active-record methods of Models,
    while it is open) read and write inside the transaction. Domain events
    raised meanwhile are handed to :meth:`collect`; whoever opened the unit
    (the command bus) dispatches :attr:`collected` only after the commit.

    Raises:
        TransactionsUnsupported: On entry, when the store cannot run
            multi-document transactions (a standalone MongoDB server); the
            write is never silently done outside a transaction.
    """

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def repository(self, model: type[M]) -> Repository[M]:
        """Return the repository of ``model`` bound to this transaction."""
        ...

    def collect(self, *events: Event) -> None:
        """Keep domain events raised in this transaction, to be dispatched once it commits."""
        ...

    @property
    def collected(self) -> tuple[Event, ...]:
        """The events collected so far, in order (emptied by a rollback)."""
        ...

    def on_commit(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` once the transaction has committed (never after a rollback).

        For what must follow the commit and never precede it: waking a
        worker that reads what the transaction wrote (the outbox relay), say.
        Callbacks run in the order given, after the unit is closed; one that
        raises is logged and the others still run.
        """
        ...

    async def commit(self) -> None:
        """Make every write of the transaction durable and visible."""
        ...

    async def rollback(self) -> None:
        """Discard every write of the transaction."""
        ...


@runtime_checkable
class UnitOfWorkFactory(Protocol):
    """Opens units of work; ``run`` retries a whole transaction on transient errors."""

    def __call__(self) -> UnitOfWork:
        """Return a new, not yet entered, unit of work."""
        ...

    async def run(self, work: Callable[[UnitOfWork], Awaitable[R]]) -> R:
        """Run ``work`` in a transaction, again from the start on a transient transaction error."""
        ...
