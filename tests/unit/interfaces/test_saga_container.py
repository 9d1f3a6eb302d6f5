"""The composition root provides the saga store and the coordinator; the app's lifespan runs it."""

import asyncio

import pytest
from dependency_injector import providers
from litestar.testing import AsyncTestClient

from hexkernel.adapters.memory.saga_store import InMemorySagaStore
from hexkernel.application import SagaCoordinator
from hexkernel.core.messages import Command, MessageRegistry, message
from hexkernel.core.ports import SagaStore
from hexkernel.core.sagas import SagaDefinition, SagaStatus, SagaStep, StepContext
from hexkernel.interfaces.bootstrap import RootContainer, Service
from hexkernel.interfaces.config import MongoSettings, Secret, Settings
from hexkernel.interfaces.http.app import create_app

pytestmark = pytest.mark.anyio

LOCAL = MessageRegistry()


@message("hk_test_sagas.Book", into=LOCAL)
class Book(Command):
    trip: str
    key: str


def trip_saga(command_bus) -> SagaDefinition:
    """A definition built by a provider: its step sends a command through the bus."""

    async def book(ctx: StepContext) -> None:
        await command_bus.dispatch(Book(trip=ctx.data["trip"], key=ctx.idempotency_key))

    return SagaDefinition("tests.Trip", [SagaStep("book", action=book)])


def test_the_default_container_provides_the_saga_store_and_coordinator():
    container = RootContainer.from_settings(Settings())
    store, coordinator = container.saga_store(), container.saga_coordinator()
    assert isinstance(store, InMemorySagaStore)
    assert isinstance(store, SagaStore)
    assert isinstance(coordinator, SagaCoordinator)
    assert coordinator is container.saga_coordinator()
    assert coordinator.definitions == {}


def test_with_a_mongo_uri_the_saga_store_is_mongodb_without_connecting():
    settings = Settings(mongo=MongoSettings(uri=Secret("mongodb://nobody:secret@db.invalid/")))
    container = RootContainer.from_settings(settings)
    assert type(container.saga_store()).__name__ == "MongoSagaStore"


async def test_the_app_lifespan_runs_the_coordinator_which_resumes_begun_sagas():
    booked: list[Book] = []

    async def handle_book(command: Book) -> None:
        booked.append(command)

    container = RootContainer.from_settings(Settings(service="trips"))
    container.command_handlers.override(providers.Dict({Book: providers.Object(handle_book)}))
    container.sagas.override(providers.List(providers.Singleton(trip_saga, container.command_bus)))
    service = Service(container, [])
    coordinator = container.saga_coordinator()
    assert set(coordinator.definitions) == {"tests.Trip"}

    async with AsyncTestClient(create_app(service, [])) as client:
        assert (await client.get("/health")).status_code == 200
        assert coordinator.running
        state = await coordinator.begin("tests.Trip", {"trip": "t1"})
        for _ in range(250):
            if (await coordinator.get(state.id)).finished:
                break
            await asyncio.sleep(0.02)
        assert (await coordinator.get(state.id)).status is SagaStatus.COMPLETED
    assert not coordinator.running
    assert booked == [Book(trip="t1", key=f"{state.id}:book")]


async def test_without_sagas_the_coordinator_does_not_run():
    container = RootContainer.from_settings(Settings())
    service = Service(container, [])
    await service.start_background()
    try:
        assert not container.saga_coordinator().running
    finally:
        await service.stop_background()


def test_the_coordinator_takes_its_lease_and_polling_from_the_sagas_settings():
    from hexkernel.interfaces.config import SagaSettings

    settings = Settings(sagas=SagaSettings(lease_seconds=2.5, poll_seconds=0.1, concurrency=3))
    coordinator = RootContainer.from_settings(settings).saga_coordinator()
    assert (coordinator._lease, coordinator._poll_interval, coordinator._concurrency) == (
        2.5,
        0.1,
        3,
    )
