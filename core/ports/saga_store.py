"""The saga-store port: where saga instances are kept between (and across) coordinators.

Each instance is one document, written whole at each save under optimistic
concurrency: a save names the version it was read at, and fails if anyone
saved the instance since. That is what keeps two coordinators from advancing
one saga twice: the second save loses, and its coordinator lets go of the
instance.
"""

import datetime as dt
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from hexkernel.core.sagas import SagaState, SagaStatus

__all__ = ("SagaStore",)


@runtime_checkable
class SagaStore(Protocol):
    """Saga instances by id, saved at an expected version."""

    async def create(self, state: SagaState) -> SagaState:
        """Store a new instance.

        Args:
            state: The instance, with ``version`` 0.

        Returns:
            The stored instance, at version 1.

        Raises:
            DuplicateKey: An instance with that id exists already (starting a
                saga under a caller-chosen id is idempotent thanks to this).
        """
        ...

    async def save(self, state: SagaState) -> SagaState:
        """Replace the instance, if nobody saved it since it was read.

        Args:
            state: The changed instance; its ``version`` is the version it was
                read at.

        Returns:
            The stored instance, its version increased by one.

        Raises:
            ConcurrencyConflict: The stored version is not ``state.version``.
            NotFound: No instance has that id.
        """
        ...

    async def get(self, saga_id: str) -> SagaState:
        """The instance with id ``saga_id``.

        Raises:
            NotFound: No instance has that id.
        """
        ...

    async def find(
        self,
        *,
        status: SagaStatus | Iterable[SagaStatus] | None = None,
        saga_type: str | None = None,
        limit: int = 100,
    ) -> list[SagaState]:
        """Instances with the given status(es) and type, oldest first.

        Args:
            status: One status, several, or ``None`` for any.
            saga_type: A definition's type name, or ``None`` for any.
            limit: The most instances returned.
        """
        ...

    async def due(self, now: dt.datetime, *, limit: int = 100) -> list[SagaState]:
        """Unfinished instances (running or compensating) whose ``wake_at`` is at or before ``now``.

        These are the ones a coordinator should pick up: new instances, those
        whose coordinator's lease ran out (it died) and those whose awaited
        reply is overdue. Oldest ``wake_at`` first.
        """
        ...
