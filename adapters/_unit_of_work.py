"""What every unit of work shares: the ``async with`` protocol and retried ``run``.

Entering a unit of work begins its transaction and routes the active-record
methods of the context through it; leaving commits when the block succeeded
and rolls back when it raised. Adapters supply ``_begin``, ``_end``,
``commit``, ``rollback``, ``repository`` and say whether the transaction is
still open.
"""

import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

import tenacity

from hexkernel.core.persistence import activate, deactivate
from hexkernel.core.ports.repository import Repository
from hexkernel.core.writes import CollectedWrites, collect_writes

if TYPE_CHECKING:
    from contextvars import Token

    from hexkernel.core.messages import Event
    from hexkernel.core.ports.unit_of_work import UnitOfWork

__all__ = ("UnitOfWorkBase", "run_with_retries")

M = TypeVar("M")
R = TypeVar("R")

log = logging.getLogger("hexkernel.uow")


class UnitOfWorkBase:
    """The ``async with`` protocol of a unit of work, around adapter hooks."""

    _token: "Token[Any] | None" = None
    _collected: "tuple[Event, ...]" = ()
    _writes: CollectedWrites | None = None
    _after_commit: "tuple[Callable[[], object], ...]" = ()

    def on_commit(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` once the transaction has committed (never after a rollback)."""
        self._after_commit = (*self._after_commit, callback)

    def collect(self, *events: "Event") -> None:
        """Keep domain events raised in this transaction, to be dispatched after the commit."""
        self._collected = (*self._collected, *events)

    @property
    def collected(self) -> "tuple[Event, ...]":
        """The events collected so far (emptied by a rollback)."""
        return self._collected

    @property
    def open(self) -> bool:
        """Whether the transaction can still be committed or rolled back."""
        raise NotImplementedError

    async def _begin(self) -> None:
        """Start the transaction (adapters that need to)."""

    async def _end(self) -> None:
        """Release what the transaction held (adapters that need to)."""

    def repository(self, model: type[M]) -> Repository[M]:
        """The repository of ``model`` inside this transaction."""
        raise NotImplementedError

    async def commit(self) -> None:
        """Make the transaction's writes durable and visible."""
        raise NotImplementedError

    async def rollback(self) -> None:
        """Discard the transaction's writes."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self._begin()
        self._token = activate(self)  # type: ignore[arg-type]
        self._writes = collect_writes()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        writes, self._writes = self._writes, None
        if writes is not None:
            writes.stop()
        if self._token is not None:
            deactivate(self._token)
            self._token = None
        callbacks, self._after_commit = self._after_commit, ()
        committed = False
        try:
            if exc is not None:
                self._collected = ()
            if self.open:
                if exc is None:
                    await self.commit()
                    committed = True
                else:
                    await self.rollback()
        finally:
            await self._end()
            if writes is not None:
                # Caches evicted at the write may have read the old document
                # again before the commit: evict once more now that it is over.
                await writes.announce_again()
        if committed:
            for callback in callbacks:
                try:
                    callback()
                except Exception:
                    log.exception("a callback after the commit failed")


async def run_with_retries(
    open_unit: Callable[[], "UnitOfWork"],
    work: Callable[["UnitOfWork"], Awaitable[R]],
    *,
    transient: Callable[[BaseException], bool],
    attempts: int,
) -> R:
    """Run ``work`` in a fresh unit of work, from the start again on a transient error."""
    async for attempt in tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception(transient),
        stop=tenacity.stop_after_attempt(attempts),
        wait=tenacity.wait_random_exponential(multiplier=0.01, max=0.5),
        reraise=True,
    ):
        with attempt:
            async with open_unit() as uow:
                return await work(uow)
    raise AssertionError("unreachable")  # pragma: no cover - tenacity reraises
