"""The in-memory adapters' container: one store per service, with its repositories."""

from dependency_injector import containers, providers

from hexkernel.adapters.memory import InMemoryRepository, InMemoryStore, InMemoryUnitOfWorkFactory

__all__ = ("InMemoryContainer",)


class InMemoryContainer(containers.DeclarativeContainer):
    """Providers of the embedded store.

    ``repository(Model)`` makes the repository of a Model on the shared store.
    """

    store = providers.Singleton(InMemoryStore)
    repository = providers.Factory(InMemoryRepository, store=store)
    uow_factory = providers.Singleton(InMemoryUnitOfWorkFactory, store)
