"""The in-memory saga store: the embedded default and the fake for unit tests.

Instances are kept as documents (:meth:`SagaState.to_document`), deep-copied
in and out, so a caller changing a state it read never changes the stored one
behind the store's back, just as with MongoDB. Nothing awaits between the
version check and the write, so a save is atomic within the process.
"""

import copy
import datetime as dt
from collections.abc import Iterable
from typing import Any

from hexkernel.core.errors import ConcurrencyConflict, DuplicateKey, NotFound
from hexkernel.core.sagas import SagaState, SagaStatus

__all__ = ("InMemorySagaStore",)

_NAME = "Saga"
_UNFINISHED = (SagaStatus.RUNNING, SagaStatus.COMPENSATING)


class InMemorySagaStore:
    """Saga instances in a dict, by id (the ``SagaStore`` port). Single process only."""

    def __init__(self) -> None:
        self._documents: dict[str, dict[str, Any]] = {}

    def __len__(self) -> int:
        return len(self._documents)

    async def create(self, state: SagaState) -> SagaState:
        """Store a new instance; see the port."""
        if state.id in self._documents:
            raise DuplicateKey(_NAME, ("id",), "_id_", None)
        return self._put(state, 1)

    async def save(self, state: SagaState) -> SagaState:
        """Replace the instance at its expected version; see the port."""
        stored = self._documents.get(state.id)
        if stored is None:
            raise NotFound(_NAME, state.id)
        if stored["version"] != state.version:
            raise ConcurrencyConflict(_NAME, state.id, state.version, stored["version"])
        return self._put(state, state.version + 1)

    def _put(self, state: SagaState, version: int) -> SagaState:
        document = state.to_document()
        document["version"] = version
        self._documents[state.id] = copy.deepcopy(document)
        return SagaState.from_document(copy.deepcopy(document))

    async def get(self, saga_id: str) -> SagaState:
        """The instance with id ``saga_id``; see the port."""
        stored = self._documents.get(saga_id)
        if stored is None:
            raise NotFound(_NAME, saga_id)
        return SagaState.from_document(copy.deepcopy(stored))

    async def find(
        self,
        *,
        status: SagaStatus | Iterable[SagaStatus] | None = None,
        saga_type: str | None = None,
        limit: int = 100,
    ) -> list[SagaState]:
        """Instances by status and type, oldest first; see the port."""
        wanted = _statuses(status)
        found = [
            d
            for d in self._documents.values()
            if (wanted is None or d["status"] in wanted)
            and (saga_type is None or d["type"] == saga_type)
        ]
        found.sort(key=lambda d: (d["created_at"], d["id"]))
        return [SagaState.from_document(copy.deepcopy(d)) for d in found[:limit]]

    async def due(self, now: dt.datetime, *, limit: int = 100) -> list[SagaState]:
        """Unfinished instances due at ``now``; see the port."""
        found = [
            d
            for d in self._documents.values()
            if d["status"] in _UNFINISHED and d["wake_at"] is not None and d["wake_at"] <= now
        ]
        found.sort(key=lambda d: (d["wake_at"], d["id"]))
        return [SagaState.from_document(copy.deepcopy(d)) for d in found[:limit]]


def _statuses(status: SagaStatus | Iterable[SagaStatus] | None) -> set[str] | None:
    if status is None:
        return None
    if isinstance(status, str):
        return {str(status)}
    return {str(s) for s in status}
