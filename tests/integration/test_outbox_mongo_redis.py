"""The outbox on MongoDB, the relay and consumers over Redis Streams, in one process.

A failed command stores neither its state change nor its messages; a committed
one reaches the consuming service through the relay and Redis; a consumer that
received a message and died before acknowledging it has the message taken over
by another member, and the effect still happens once.
"""

import asyncio

import pytest
from hk_testing.messaging import (
    MESSAGES,
    Ship,
    Shipment,
    ShipmentRequested,
    Tally,
    count_shipment,
    mongo_messaging,
    read_tally,
)

from hexkernel.adapters.redis import RedisBroker
from hexkernel.application import (
    CommandBus,
    ConsumerRunner,
    Outbox,
    OutboxMiddleware,
    OutboxRelay,
    UnitOfWorkMiddleware,
    current_unit_of_work,
)

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

TOPIC = "shipments"


class Boom(Exception):
    pass


@pytest.fixture
async def broker(redis_url, redis_prefix):
    broker = RedisBroker.from_url(redis_url, prefix=redis_prefix)
    try:
        yield broker
    finally:
        await broker.close()


def producer(orders) -> CommandBus:
    outbox = Outbox(orders.outbox_store, {ShipmentRequested: TOPIC}, registry=MESSAGES)
    bus = CommandBus(
        middleware=[UnitOfWorkMiddleware(orders.uow_factory), OutboxMiddleware(outbox)]
    )

    async def ship(command: Ship) -> None:
        uow = current_unit_of_work()
        shipment = await uow.repository(Shipment).insert(Shipment(n=command.n))
        uow.collect(ShipmentRequested(shipment_id=shipment.id, n=command.n))
        if command.n < 0:
            raise Boom

    bus.register(Ship, ship)
    return bus


def counting_runner(broker, counting, name: str) -> ConsumerRunner:
    return ConsumerRunner(
        broker,
        counting.uow_factory,
        counting.inbox,
        group="counting",
        topics=[TOPIC],
        handlers={ShipmentRequested: count_shipment},
        consumer=name,
        registry=MESSAGES,
        redeliver_after=0.3,
    )


async def test_a_failed_command_on_mongodb_stores_neither_state_nor_messages(mongo_uri):
    async with mongo_messaging(mongo_uri) as orders:
        bus = producer(orders)

        with pytest.raises(Boom):
            await bus.dispatch(Ship(n=-1))
        await bus.dispatch(Ship(n=1))

        assert await orders.repository(Shipment).count() == 1
        assert await orders.outbox_store.unsent() == 1
        [message] = await orders.outbox_store.claim("relay")
        assert message.envelope.open(MESSAGES).n == 1


async def test_messages_reach_the_consuming_service_once_even_when_a_consumer_dies(
    mongo_uri, broker
):
    async with mongo_messaging(mongo_uri) as orders, mongo_messaging(mongo_uri) as counting:
        bus = producer(orders)
        for n in range(4):
            await bus.dispatch(Ship(n=n))
        assert await OutboxRelay(orders.outbox_store, broker).drain() == 4

        # A member takes two messages and dies without acknowledging them.
        dying = await broker.subscribe(TOPIC, "counting", "dying", redeliver_after=0.3)
        taken = await dying.receive(limit=2, wait=0.5)
        assert len(taken) == 2

        survivor = counting_runner(broker, counting, "survivor")
        assert await survivor.run_once(wait=0.2) == 2  # the two nobody holds
        await asyncio.sleep(0.4)
        assert await survivor.run_once(wait=0.2) == 2  # taken over from the dead member
        assert await survivor.run_once(wait=0.2) == 0

        tally = await read_tally(counting.repository(Tally))
        assert (tally.count, sorted(tally.seen)) == (4, [0, 1, 2, 3])
        for delivery in taken:
            assert await counting.inbox.handled("counting", delivery.envelope.message_id)
