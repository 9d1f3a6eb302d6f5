"""The composition root provides the broker, the outbox, the relay and the consumers."""

import asyncio

import pytest
from dependency_injector import providers
from hk_testing.messaging import (
    MESSAGES,
    Ship,
    Shipment,
    ShipmentRequested,
    Tally,
    count_shipment,
    read_tally,
)
from litestar.testing import AsyncTestClient

from hexkernel.application import (
    ConsumerRunner,
    Outbox,
    OutboxMiddleware,
    OutboxRelay,
    current_unit_of_work,
)
from hexkernel.core.ports import Inbox, MessageBroker, OutboxStore
from hexkernel.interfaces.bootstrap import RootContainer, Service
from hexkernel.interfaces.config import BrokerSettings, MongoSettings, Secret, Settings
from hexkernel.interfaces.http.app import create_app

pytestmark = pytest.mark.anyio


def test_the_default_container_provides_every_messaging_part_in_memory():
    container = RootContainer.from_settings(Settings())
    container.check_dependencies()

    assert type(container.broker()).__name__ == "InMemoryBroker"
    assert type(container.outbox_store()).__name__ == "InMemoryOutboxStore"
    assert type(container.inbox()).__name__ == "InMemoryInbox"
    assert isinstance(container.broker(), MessageBroker)
    assert isinstance(container.outbox_store(), OutboxStore)
    assert isinstance(container.inbox(), Inbox)
    assert isinstance(container.outbox(), Outbox)
    assert isinstance(container.outbox_relay(), OutboxRelay)
    assert isinstance(container.consumer_runner(), ConsumerRunner)
    assert container.consumer_runner().group == "hexkernel"  # the service's name
    assert any(isinstance(m, OutboxMiddleware) for m in container.command_bus().middleware)


@pytest.mark.parametrize("key", ["url", "redis_url"])
def test_a_broker_url_selects_redis_and_mongodb_selects_its_stores_without_connecting(key):
    settings = Settings(
        service="orders",
        mongo=MongoSettings(uri=Secret("mongodb://nobody:secret@db.invalid/")),
        broker=BrokerSettings(**{key: Secret("redis://db.invalid:6379/0")}, group="billing"),
    )
    container = RootContainer.from_settings(settings)

    assert type(container.broker()).__name__ == "RedisBroker"
    assert type(container.outbox_store()).__name__ == "MongoOutboxStore"
    assert type(container.inbox()).__name__ == "MongoInbox"
    assert container.consumer_runner().group == "billing"


async def ship(command: Ship) -> str:
    shipment = await current_unit_of_work().repository(Shipment).insert(Shipment(n=command.n))
    current_unit_of_work().collect(ShipmentRequested(shipment_id=shipment.id, n=command.n))
    return shipment.id


async def test_the_app_lifespan_runs_the_relay_and_the_consumers():
    settings = Settings(service="shipping", broker=BrokerSettings(relay_poll_seconds=0.02))
    container = RootContainer.from_settings(settings)
    container.command_handlers.override(providers.Dict({Ship: providers.Object(ship)}))
    container.message_routes.override(providers.Dict({ShipmentRequested: "shipments"}))
    container.message_registry.override(providers.Object(MESSAGES))
    container.consumer_topics.override(providers.List("shipments"))
    container.consumer_handlers.override(
        providers.Dict({ShipmentRequested: providers.Object(count_shipment)})
    )
    service = Service(container, [Shipment, Tally])
    app = create_app(service, [Shipment])
    tallies = container.repository(Tally)

    async with AsyncTestClient(app) as client:
        assert (await client.get("/health")).status_code == 200
        for n in range(3):
            await container.command_bus().dispatch(Ship(n=n))
        for _ in range(250):
            if (await read_tally(tallies)).count == 3:
                break
            await asyncio.sleep(0.02)
        assert await container.outbox_store().unsent() == 0

    tally = await read_tally(tallies)
    assert (tally.count, sorted(tally.seen)) == (3, [0, 1, 2])
    assert service._background == []


async def test_a_commit_wakes_the_services_idle_relay():
    settings = Settings(
        broker=BrokerSettings(relay_poll_seconds=0.01, relay_idle_poll_seconds=30.0)
    )
    container = RootContainer.from_settings(settings)
    container.command_handlers.override(providers.Dict({Ship: providers.Object(ship)}))
    container.message_routes.override(providers.Dict({ShipmentRequested: "shipments"}))
    container.message_registry.override(providers.Object(MESSAGES))
    service = Service(container, [Shipment])
    await service.start_background()
    try:
        await asyncio.sleep(1.0)  # idle: the relay's pause has grown past 0.5 s
        await container.command_bus().dispatch(Ship(n=1))
        for _ in range(25):
            if await container.outbox_store().unsent() == 0:
                break
            await asyncio.sleep(0.01)
        assert await container.outbox_store().unsent() == 0
    finally:
        await service.stop_background()


async def test_with_the_relay_off_and_no_topics_nothing_runs_in_the_background():
    container = RootContainer.from_settings(Settings(broker=BrokerSettings(relay=False)))
    service = Service(container, [])

    await service.start_background()
    assert service._background == []
    await service.stop_background()
