"""The outbox, the relay and idempotent consumers, end to end on the in-memory adapters."""

import asyncio

import pytest
from hk_testing.messaging import (
    MESSAGES,
    MemoryMessaging,
    Ship,
    Shipment,
    ShipmentRequested,
    Tally,
    count_shipment,
    read_tally,
)

from hexkernel.adapters.memory.broker import InMemoryBroker
from hexkernel.application import (
    CommandBus,
    ConsumerRunner,
    EventDispatcher,
    NoUnitOfWork,
    Outbox,
    OutboxMiddleware,
    OutboxRelay,
    UnitOfWorkMiddleware,
    current_unit_of_work,
)
from hexkernel.core.correlation import correlated, correlation_id
from hexkernel.core.envelope import Envelope
from hexkernel.core.errors import DuplicateKey
from hexkernel.core.messages import Event, message
from hexkernel.core.query import Query as Find

pytestmark = pytest.mark.anyio

TOPIC = "shipments"


@message("hk_msg.Unheard", into=MESSAGES)
class Unheard(Event):
    pass


class Boom(Exception):
    pass


class Crash(BaseException):
    """Stands for the relay's process dying between publishing and marking sent."""


def wired(messaging: MemoryMessaging, *, fail: bool = False) -> tuple[CommandBus, Outbox]:
    outbox = Outbox(messaging.outbox_store, {ShipmentRequested: TOPIC}, registry=MESSAGES)
    bus = CommandBus(
        middleware=[UnitOfWorkMiddleware(messaging.uow_factory), OutboxMiddleware(outbox)]
    )

    async def ship(command: Ship) -> str:
        uow = current_unit_of_work()
        shipment = await uow.repository(Shipment).insert(Shipment(n=command.n))
        uow.collect(ShipmentRequested(shipment_id=shipment.id, n=command.n))
        if fail:
            raise Boom
        return shipment.id

    bus.register(Ship, ship)
    return bus, outbox


def consumer(messaging, broker, **options) -> ConsumerRunner:
    options.setdefault("handlers", {ShipmentRequested: count_shipment})
    return ConsumerRunner(
        broker,
        messaging.uow_factory,
        messaging.inbox,
        group="counting",
        topics=[TOPIC],
        registry=MESSAGES,
        wait=0.05,
        **options,
    )


async def consume_all(runner: ConsumerRunner) -> None:
    while await runner.run_once(wait=0.05):
        pass


# ------------------------------------------------------------------- outbox
async def test_events_a_command_collects_are_stored_with_its_commit():
    messaging = MemoryMessaging()
    bus, _ = wired(messaging)

    shipment_id = await bus.dispatch(Ship(n=1))

    assert [s.id for s in await messaging.repository(Shipment).find(Find(Shipment))] == [
        shipment_id
    ]
    [stored] = await messaging.outbox_store.claim("relay")
    assert stored.topic == TOPIC
    assert stored.envelope.open(MESSAGES) == ShipmentRequested(shipment_id=shipment_id, n=1)


async def test_a_failed_command_stores_neither_its_state_nor_its_messages():
    messaging = MemoryMessaging()
    bus, _ = wired(messaging, fail=True)

    with pytest.raises(Boom):
        await bus.dispatch(Ship(n=1))

    assert await messaging.repository(Shipment).count() == 0
    assert await messaging.outbox_store.unsent() == 0


async def test_a_handler_sends_a_message_in_its_unit_of_work():
    messaging = MemoryMessaging()
    outbox = Outbox(messaging.outbox_store, registry=MESSAGES)
    bus = CommandBus(middleware=[UnitOfWorkMiddleware(messaging.uow_factory)])

    async def ship(command: Ship) -> Envelope:
        return await outbox.send(ShipmentRequested(shipment_id="s", n=command.n), topic="direct")

    bus.register(Ship, ship)
    with correlated("corr-1"):
        sent = await bus.dispatch(Ship(n=4))

    [stored] = await messaging.outbox_store.claim("relay")
    assert (stored.topic, stored.envelope) == ("direct", sent)
    assert sent.correlation_id == "corr-1"
    assert sent.message_id.startswith("msg_")


async def test_a_deterministic_message_id_is_stored_once():
    messaging = MemoryMessaging()
    outbox = Outbox(messaging.outbox_store, {ShipmentRequested: TOPIC}, registry=MESSAGES)
    event = ShipmentRequested(shipment_id="s", n=1)

    async def send(uow) -> Envelope:
        return await outbox.send(event, uow=uow, message_id="sag_1/reserve")

    sent = await messaging.uow_factory.run(send)
    with pytest.raises(DuplicateKey):
        await messaging.uow_factory.run(send)

    assert sent.message_id == "sag_1/reserve"
    assert [m.envelope for m in await messaging.outbox_store.claim("relay")] == [sent]


async def test_sending_needs_a_unit_of_work_and_a_topic():
    messaging = MemoryMessaging()
    outbox = Outbox(messaging.outbox_store, registry=MESSAGES)

    with pytest.raises(NoUnitOfWork):
        await outbox.send(Unheard())
    async with messaging.uow_factory() as uow:
        with pytest.raises(LookupError):
            await outbox.send(Unheard(), uow=uow)
        outbox.route(Event, "everything")
        await outbox.send(Unheard(), uow=uow)

    [stored] = await messaging.outbox_store.claim("relay")
    assert stored.topic == "everything"


async def test_events_of_nested_commands_are_stored_once_each():
    messaging = MemoryMessaging()
    bus, _ = wired(messaging)

    async def ship_twice(command: Ship) -> None:
        await bus.dispatch(Ship(n=command.n))  # joins the unit
        current_unit_of_work().collect(ShipmentRequested(shipment_id="outer", n=command.n + 1))

    @message("hk_msg.ShipTwice", into=MESSAGES)
    class ShipTwice(Ship):
        pass

    bus.register(ShipTwice, ship_twice)
    await bus.dispatch(ShipTwice(n=10))

    stored = await messaging.outbox_store.claim("relay")
    assert [m.envelope.data["n"] for m in stored] == [10, 11]


# -------------------------------------------------------------------- relay
async def test_the_relay_publishes_in_order_and_marks_sent():
    messaging, broker = MemoryMessaging(), InMemoryBroker()
    bus, _ = wired(messaging)
    for n in range(5):
        await bus.dispatch(Ship(n=n))
    relay = OutboxRelay(messaging.outbox_store, broker, batch_size=2)

    assert await relay.drain() == 5

    assert await messaging.outbox_store.unsent() == 0
    subscription = await broker.subscribe(TOPIC, "g", "c")
    received = await subscription.receive(limit=10, wait=0.05)
    assert [d.envelope.open(MESSAGES).n for d in received] == [0, 1, 2, 3, 4]
    assert await relay.drain() == 0


async def test_a_relay_that_dies_before_marking_sent_publishes_again_and_consumers_count_once():
    messaging, broker = MemoryMessaging(), InMemoryBroker()
    bus, _ = wired(messaging)
    for n in range(3):
        await bus.dispatch(Ship(n=n))

    async def die(_published) -> None:
        raise Crash

    dying = OutboxRelay(messaging.outbox_store, broker, lease=0.2, after_publish=die, owner="a")
    with pytest.raises(Crash):
        await dying.relay_once()
    assert await broker.topic_length(TOPIC) == 3
    assert await messaging.outbox_store.unsent() == 3

    successor = OutboxRelay(messaging.another_outbox_store(), broker, owner="b")
    assert await successor.drain() == 0  # the dead relay's claims hold until they expire
    await asyncio.sleep(0.3)
    assert await successor.drain() == 3
    assert await broker.topic_length(TOPIC) == 6

    await consume_all(consumer(messaging, broker))

    tally = await read_tally(messaging.repository(Tally))
    assert (tally.count, sorted(tally.seen)) == (3, [0, 1, 2])


async def test_a_failing_broker_leaves_the_unpublished_messages_to_the_next_round():
    messaging, broker = MemoryMessaging(), InMemoryBroker()
    bus, _ = wired(messaging)
    for n in range(3):
        await bus.dispatch(Ship(n=n))
    calls = 0
    publish = broker.publish

    async def flaky(topic, envelope):
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ConnectionError("down")
        return await publish(topic, envelope)

    broker.publish = flaky
    relay = OutboxRelay(messaging.outbox_store, broker)

    with pytest.raises(ConnectionError):
        await relay.relay_once()
    assert await messaging.outbox_store.unsent() == 2
    assert await relay.drain() == 2
    subscription = await broker.subscribe(TOPIC, "g", "c")
    received = await subscription.receive(limit=10, wait=0.05)
    assert [d.envelope.open(MESSAGES).n for d in received] == [0, 1, 2]


async def test_an_idle_relay_polls_ever_less_often_and_a_commit_wakes_it_at_once():
    messaging, broker = MemoryMessaging(), InMemoryBroker()
    bus, outbox = wired(messaging)
    claims = 0
    claim = messaging.outbox_store.claim

    async def counted(*args, **kwargs):
        nonlocal claims
        claims += 1
        return await claim(*args, **kwargs)

    messaging.outbox_store.claim = counted  # type: ignore[method-assign]
    relay = OutboxRelay(messaging.outbox_store, broker, poll_interval=0.01, idle_poll_interval=5.0)
    outbox.on_commit(relay.notify)
    await relay.start()
    try:
        await asyncio.sleep(0.7)
        # Pauses of 0.01, 0.02, 0.04 ... s: about 7 claims, where a fixed pause makes 70.
        assert 3 <= claims <= 10
        # The relay now sleeps for 0.64 s or more; the commit wakes it.
        await bus.dispatch(Ship(n=1))
        for _ in range(20):
            if await broker.topic_length(TOPIC):
                break
            await asyncio.sleep(0.01)
        assert await broker.topic_length(TOPIC) == 1
        assert await messaging.outbox_store.unsent() == 0
    finally:
        await relay.stop()


# ---------------------------------------------------------------- consumers
async def test_a_redelivered_message_takes_effect_once():
    messaging, broker = MemoryMessaging(), InMemoryBroker()
    envelope = Envelope.wrap(ShipmentRequested(shipment_id="s", n=1), registry=MESSAGES)
    for _ in range(3):
        await broker.publish(TOPIC, envelope)
    runner = consumer(messaging, broker)

    await consume_all(runner)

    tally = await read_tally(messaging.repository(Tally))
    assert (tally.count, tally.seen) == (1, [1])
    assert await messaging.inbox.handled("counting", envelope.message_id)


async def test_a_failing_handler_gets_the_message_again_later():
    messaging, broker = MemoryMessaging(), InMemoryBroker()
    failures = 1

    async def flaky(event: ShipmentRequested) -> None:
        nonlocal failures
        await count_shipment(event)  # written, then rolled back with the failure
        if failures:
            failures -= 1
            raise Boom

    await broker.publish(
        TOPIC, Envelope.wrap(ShipmentRequested(shipment_id="s", n=1), registry=MESSAGES)
    )
    runner = consumer(messaging, broker, handlers={ShipmentRequested: flaky}, redeliver_after=0.1)

    assert await runner.run_once(wait=0.05) == 1
    assert (await read_tally(messaging.repository(Tally))).count == 0
    await asyncio.sleep(0.15)
    await consume_all(runner)

    assert (await read_tally(messaging.repository(Tally))).count == 1


async def test_poison_and_unreadable_messages_go_to_the_dead_letter_topic():
    messaging, broker = MemoryMessaging(), InMemoryBroker()

    async def refuse(_event: ShipmentRequested) -> None:
        raise Boom

    poison = Envelope.wrap(ShipmentRequested(shipment_id="s", n=1), registry=MESSAGES)
    unknown = Envelope(message_id="msg_x", type="elsewhere.Unknown", version=1, data={})
    await broker.publish(TOPIC, poison)
    await broker.publish(TOPIC, unknown)
    runner = consumer(
        messaging,
        broker,
        handlers={ShipmentRequested: refuse},
        redeliver_after=0.05,
        max_attempts=2,
    )

    await runner.run_once(wait=0.05)
    await asyncio.sleep(0.1)
    await runner.run_once(wait=0.05)

    dead = await broker.subscribe(f"{TOPIC}.dead-letter", "ops", "c")
    received = await dead.receive(limit=10, wait=0.05)
    assert sorted(d.envelope.message_id for d in received) == sorted(
        [poison.message_id, unknown.message_id]
    )
    await asyncio.sleep(0.1)
    assert await runner.run_once(wait=0.05) == 0


async def test_a_message_without_a_handler_is_acknowledged_and_ignored():
    messaging, broker = MemoryMessaging(), InMemoryBroker()
    await broker.publish(TOPIC, Envelope.wrap(Unheard(), registry=MESSAGES))
    runner = consumer(messaging, broker, redeliver_after=0.05)

    assert await runner.run_once(wait=0.05) == 1
    await asyncio.sleep(0.1)
    assert await runner.run_once(wait=0.05) == 0


async def test_a_consumer_handler_runs_in_one_unit_with_the_inbox_and_sends_with_it():
    messaging, broker = MemoryMessaging(), InMemoryBroker()
    outbox = Outbox(messaging.outbox_store, {Unheard: "replies"}, registry=MESSAGES)
    dispatched = []
    dispatcher = EventDispatcher({Event: [lambda e: _append(dispatched, e)]})
    seen_correlation = []

    async def handle(event: ShipmentRequested) -> None:
        seen_correlation.append(correlation_id())
        await count_shipment(event)
        current_unit_of_work().collect(Unheard())

    with correlated("corr-9"):
        consumed = Envelope.wrap(ShipmentRequested(shipment_id="s", n=1), registry=MESSAGES)
    await broker.publish(TOPIC, consumed)
    runner = consumer(
        messaging,
        broker,
        handlers={ShipmentRequested: handle},
        dispatcher=dispatcher,
        outbox=outbox,
    )

    await consume_all(runner)

    assert seen_correlation == ["corr-9"]
    assert dispatched == [Unheard()]
    [reply] = await messaging.outbox_store.claim("relay")
    assert reply.topic == "replies"
    assert reply.envelope.correlation_id == "corr-9"
    assert reply.envelope.causation_id == consumed.message_id


async def _append(seen: list, event: Event) -> None:
    seen.append(event)


async def test_relay_and_consumer_run_in_the_background():
    messaging, broker = MemoryMessaging(), InMemoryBroker()
    bus, _ = wired(messaging)
    relay = OutboxRelay(messaging.outbox_store, broker, poll_interval=0.02)
    runner = consumer(messaging, broker)
    await relay.start()
    await runner.start()
    try:
        for n in range(4):
            await bus.dispatch(Ship(n=n))
        for _ in range(200):
            if (await read_tally(messaging.repository(Tally))).count == 4:
                break
            await asyncio.sleep(0.02)
    finally:
        await relay.stop()
        await runner.stop()

    tally = await read_tally(messaging.repository(Tally))
    assert (tally.count, sorted(tally.seen)) == (4, [0, 1, 2, 3])
