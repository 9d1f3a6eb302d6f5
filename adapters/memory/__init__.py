"""In-memory adapters: the embedded default when no MongoDB is configured, and the test fakes."""

from typing import Any, TypeVar

from hexkernel.adapters._documents import DocumentRepository
from hexkernel.adapters.memory.store import InMemoryCollection, InMemoryStore
from hexkernel.adapters.memory.unit_of_work import InMemoryUnitOfWork, InMemoryUnitOfWorkFactory

__all__ = (
    "InMemoryRepository",
    "InMemoryStore",
    "InMemoryUnitOfWork",
    "InMemoryUnitOfWorkFactory",
)

M = TypeVar("M")


def InMemoryRepository(model: type[M], store: InMemoryStore) -> DocumentRepository[M]:  # noqa: N802 - reads as the adapter's class
    """The repository of ``model`` in ``store`` (its collection is the Model's)."""
    collection: Any = model.__model__.collection  # type: ignore[attr-defined]
    return DocumentRepository(model, InMemoryCollection(store.table(collection), model))
