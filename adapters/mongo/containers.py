"""The MongoDB adapters' container: one client per service, repositories and units of work on it."""

from typing import Any

from dependency_injector import containers, providers
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from hexkernel.adapters.mongo import MongoRepository, MongoUnitOfWorkFactory, connect

__all__ = ("MongoContainer",)


def _database(client: AsyncMongoClient[Any], name: str) -> AsyncDatabase[Any]:
    return client[name]


class MongoContainer(containers.DeclarativeContainer):
    """Providers of the MongoDB adapters.

    Configuration keys: ``uri`` (the connection string, revealed only here),
    ``database`` and ``server_selection_timeout_ms``. The client connects
    lazily; the composition root closes it at shutdown.
    """

    config = providers.Configuration()
    client = providers.Singleton(
        connect, config.uri, serverSelectionTimeoutMS=config.server_selection_timeout_ms
    )
    database = providers.Singleton(_database, client, config.database)
    repository = providers.Factory(MongoRepository, database=database)
    uow_factory = providers.Singleton(MongoUnitOfWorkFactory, client, database)
