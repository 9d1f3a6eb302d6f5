"""Transactions over the in-memory store: snapshot on first use, check and swap on commit.

Each collection a unit of work touches is cloned (cheaply: documents are
never changed in place, so the clone shares them). At commit, every document
the transaction changed must still be the one it started from in the store;
otherwise another writer came first and the commit fails with a transient
``ConcurrencyConflict`` (``run`` retries it). Unique indexes are checked again
on the merged result, and the merged collections replace the store's in one
step, with no ``await`` in between, so other tasks see all or nothing.
"""

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from hexkernel.adapters._documents import DocumentRepository
from hexkernel.adapters._unit_of_work import UnitOfWorkBase, run_with_retries
from hexkernel.adapters.memory.store import InMemoryCollection, InMemoryStore, _Table
from hexkernel.core.errors import ConcurrencyConflict
from hexkernel.core.ports.repository import Repository
from hexkernel.core.ports.unit_of_work import UnitOfWork

__all__ = ("InMemoryUnitOfWork", "InMemoryUnitOfWorkFactory")

M = TypeVar("M")
R = TypeVar("R")


class InMemoryUnitOfWork(UnitOfWorkBase):
    """One transaction on an :class:`InMemoryStore`."""

    def __init__(self, store: InMemoryStore) -> None:
        self._store = store
        self._tables: dict[str, tuple[_Table, dict[str, Any]]] = {}
        self._repositories: dict[type[Any], Repository[Any]] = {}
        self._names: dict[str, str] = {}
        self._done = False

    def _table(self, name: str) -> _Table:
        held = self._tables.get(name)
        if held is None:
            base = self._store.table(name)
            held = self._tables[name] = (base.clone(), dict(base.documents))
        return held[0]

    def table(self, name: str) -> _Table:
        """The transaction's copy of collection ``name`` (other in-memory adapters join here)."""
        return self._table(name)

    def repository(self, model: type[M]) -> Repository[M]:
        """The repository of ``model`` inside this transaction."""
        repository = self._repositories.get(model)
        if repository is None:
            name = model.__model__.collection  # type: ignore[attr-defined]
            repository = DocumentRepository(model, InMemoryCollection(self._table(name), model))
            self._names[name] = model.__name__
            self._repositories[model] = repository
        return repository

    @property
    def open(self) -> bool:
        """Whether the transaction has not been committed or rolled back yet."""
        return not self._done

    async def commit(self) -> None:
        """Check for conflicting writes, then install every touched collection at once."""
        merged: list[_Table] = []
        for name, (mine, start) in self._tables.items():
            current = self._store.table(name)
            result = current.clone()
            result.indexes.update(mine.indexes)
            for key in set(mine.documents) | set(start):
                ours, theirs = mine.documents.get(key), start.get(key)
                if ours is theirs:
                    continue  # not changed by this transaction
                if current.documents.get(key) is not theirs:
                    self._done = True
                    conflict = ConcurrencyConflict(
                        name, key, int((theirs or {}).get("version", 0)), None
                    )
                    conflict.transient = True  # type: ignore[attr-defined]
                    raise conflict
                if ours is None:
                    result.documents.pop(key, None)
                else:
                    result.documents[key] = ours
            model = self._names.get(name)
            for document in result.documents.values():
                result.check_unique(document, model=model)
            merged.append(result)
        for table in merged:
            self._store.replace_table(table)
        self._done = True

    async def rollback(self) -> None:
        """Forget every write of the transaction."""
        self._tables.clear()
        self._done = True


def _transient(exc: BaseException) -> bool:
    return bool(getattr(exc, "transient", False))


class InMemoryUnitOfWorkFactory:
    """Opens :class:`InMemoryUnitOfWork` objects on one store.

    Args:
        store: The store.
        attempts: How many times :meth:`run` tries a transaction that conflicts.
    """

    def __init__(self, store: InMemoryStore, attempts: int = 5) -> None:
        self._store = store
        self._attempts = attempts

    def __call__(self) -> UnitOfWork:
        """A new unit of work."""
        return InMemoryUnitOfWork(self._store)

    async def run(self, work: Callable[[UnitOfWork], Awaitable[R]]) -> R:
        """Run ``work`` in a transaction, again from the start when the commit conflicts."""
        return await run_with_retries(self, work, transient=_transient, attempts=self._attempts)
