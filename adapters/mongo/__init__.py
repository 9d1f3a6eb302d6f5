"""MongoDB adapters, on pymongo's native async API."""

from typing import Any, TypeVar

from pymongo.asynchronous.database import AsyncDatabase

from hexkernel.adapters._documents import DocumentRepository
from hexkernel.adapters.mongo.client import DecimalEncoder, connect
from hexkernel.adapters.mongo.collection import MongoCollection, mongo_filter, mongo_update
from hexkernel.adapters.mongo.unit_of_work import MongoUnitOfWork, MongoUnitOfWorkFactory

__all__ = (
    "DecimalEncoder",
    "MongoCollection",
    "MongoRepository",
    "MongoUnitOfWork",
    "MongoUnitOfWorkFactory",
    "connect",
    "mongo_filter",
    "mongo_update",
)

M = TypeVar("M")


def MongoRepository(model: type[M], database: AsyncDatabase[Any]) -> DocumentRepository[M]:  # noqa: N802 - reads as the adapter's class
    """The repository of ``model`` in its collection of ``database``."""
    raw = database[model.__model__.collection]  # type: ignore[attr-defined]
    return DocumentRepository(model, MongoCollection(raw, model.__name__))
