"""The composition root: the one module that names concrete adapters.

:class:`RootContainer` picks the store from configuration (the embedded
in-memory store without ``mongo.uri``, MongoDB with it) and provides
repositories, the unit-of-work factory and the clock. :class:`Service` wires a
container to a set of Models: it binds each Model's repository for the
active-record methods, synchronises indexes and schemas at start-up and
closes the clients at shutdown. Tests override any provider::

    container = RootContainer.from_settings(settings)
    container.repository.override(providers.Factory(FakeRepository))
"""

import logging
from collections.abc import Sequence
from typing import Any

from dependency_injector import containers, providers

from hexkernel.adapters._documents import utcnow
from hexkernel.adapters.memory.containers import InMemoryContainer
from hexkernel.adapters.mongo.containers import MongoContainer
from hexkernel.core.persistence import bind, unbind
from hexkernel.core.ports.repository import IndexReport, Repository
from hexkernel.interfaces.config import Settings, redacted

__all__ = ("RootContainer", "Service")

log = logging.getLogger("hexkernel")


class RootContainer(containers.DeclarativeContainer):
    """Everything a hexkernel service is made of, chosen by configuration."""

    config = providers.Configuration()
    settings = providers.Dependency(instance_of=Settings)

    memory = providers.Container(InMemoryContainer)
    mongo = providers.Container(MongoContainer, config=config.mongo)

    repository = providers.Selector(
        config.storage, memory=memory.repository, mongo=mongo.repository
    )
    uow_factory = providers.Selector(
        config.storage, memory=memory.uow_factory, mongo=mongo.uow_factory
    )
    clock = providers.Object(utcnow)

    @classmethod
    def from_settings(cls, settings: Settings) -> "RootContainer":
        """Build a container configured from typed settings."""
        container = cls(settings=providers.Object(settings))
        uri = settings.mongo.uri
        container.config.from_dict(
            {
                "storage": "mongo" if uri is not None else "memory",
                "mongo": {
                    "uri": uri.reveal() if uri is not None else None,
                    "database": settings.mongo.database,
                    "server_selection_timeout_ms": settings.mongo.server_selection_timeout_ms,
                },
            }
        )
        return container


class Service:
    """A container wired to a service's Models, with start-up and shutdown.

    Args:
        container: The composition root.
        models: The document Models the service stores.
    """

    def __init__(self, container: RootContainer, models: Sequence[type[Any]]) -> None:
        self.container = container
        self.models = tuple(models)
        # Making a repository does no I/O (the MongoDB client connects lazily).
        self.repositories: dict[type[Any], Repository[Any]] = {
            m: container.repository(m) for m in self.models
        }

    @property
    def storage(self) -> str:
        """``"memory"`` or ``"mongo"``."""
        return str(self.container.config.storage())

    async def startup(self) -> dict[str, IndexReport]:
        """Bind every Model's repository and synchronise its indexes and schema."""
        settings = self.container.settings()
        log.info("starting %s with settings %s", settings.service, redacted(settings))
        if self.storage == "memory":
            log.warning("no mongo.uri configured: running on the embedded in-memory store")
        reports = {}
        for model, repository in self.repositories.items():
            bind(model, repository)
            report = await repository.sync()
            reports[model.__name__] = report
            if report.differing:
                log.warning(
                    "%s: indexes differ from the declaration: %s", model.__name__, report.differing
                )
        return reports

    async def shutdown(self) -> None:
        """Unbind the Models and close the database client, if one was opened."""
        for model in self.models:
            unbind(model)
        if self.storage == "mongo":
            await self.container.mongo.client().close()
