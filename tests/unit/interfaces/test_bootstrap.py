"""The composition root picks adapters from configuration and can be overridden in tests."""

import pytest
from dependency_injector import providers
from hk_testing.models import Task

from hexkernel.adapters.memory import InMemoryRepository, InMemoryStore
from hexkernel.core import RepositoryNotBound
from hexkernel.core.ports import Repository, UnitOfWorkFactory
from hexkernel.core.query import Query
from hexkernel.interfaces.bootstrap import RootContainer, Service
from hexkernel.interfaces.config import MongoSettings, Secret, Settings

pytestmark = pytest.mark.anyio


async def test_without_a_mongo_uri_the_embedded_store_is_used(caplog):
    container = RootContainer.from_settings(Settings())
    container.check_dependencies()
    service = Service(container, [Task])
    assert service.storage == "memory"
    await service.startup()
    try:
        assert "in-memory store" in caplog.text
        assert isinstance(container.repository(Task), Repository)
        assert isinstance(container.uow_factory(), UnitOfWorkFactory)
        task = await Task(title="Wire it").save()
        assert (await Task.get(task.id)).title == "Wire it"
        assert container.memory.store() is container.memory.store(), "one store per service"
    finally:
        await service.shutdown()
    with pytest.raises(RepositoryNotBound):
        await Task.get(task.id)


async def test_with_a_mongo_uri_the_mongo_adapters_are_chosen_without_connecting():
    settings = Settings(mongo=MongoSettings(uri=Secret("mongodb://nobody:secret@db.invalid/")))
    container = RootContainer.from_settings(settings)
    repository = container.repository(Task)
    assert type(repository.collection).__name__ == "MongoCollection"
    await container.mongo.client().close()


async def test_any_provider_can_be_overridden_in_tests():
    store = InMemoryStore()
    container = RootContainer.from_settings(Settings())
    seen = []

    def recording_repository(model):
        seen.append(model)
        return InMemoryRepository(model, store)

    with container.repository.override(providers.Factory(recording_repository)):
        service = Service(container, [Task])
        await service.startup()
        try:
            await Task(title="Through the override").save()
        finally:
            await service.shutdown()
    assert seen == [Task]
    found = await service.repositories[Task].find(Query(Task))
    assert [t.title for t in found] == ["Through the override"]
