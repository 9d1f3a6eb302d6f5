"""The outbox-store and inbox contracts, run against every store.

A test module provides a fixture named ``messaging`` (a backend of
:mod:`hk_testing.messaging`: fresh storage with its outbox store, inbox and
units of work) and subclasses every contract under a ``Test`` name.
"""

import asyncio
import datetime as dt
import uuid
from typing import Any

import pytest
import tenacity

from hexkernel.core.envelope import Envelope
from hexkernel.core.errors import ConcurrencyConflict, DuplicateKey
from hexkernel.core.ports.outbox import OutboxMessage
from hk_testing.messaging import MESSAGES, Shipment, ShipmentRequested

__all__ = ("OUTBOX_CONTRACTS", "outgoing", "uncovered")


def outgoing(n: int, topic: str = "shipments") -> OutboxMessage:
    event = ShipmentRequested(shipment_id=f"shp_{n}", n=n)
    return OutboxMessage(topic=topic, envelope=Envelope.wrap(event, registry=MESSAGES))


class Boom(Exception):
    pass


async def add(messaging, messages: list[OutboxMessage]) -> None:
    async with messaging.uow_factory() as uow:
        await messaging.outbox_store.add(messages, uow=uow)


def ids(messages) -> list[str]:
    return [m.message_id for m in messages]


class OutboxStoreContract:
    async def test_committed_messages_are_claimed_oldest_first_and_whole(self, messaging):
        first = [outgoing(1), outgoing(2, "other"), outgoing(3)]
        second = [outgoing(4), outgoing(5)]
        await add(messaging, first)
        await add(messaging, second)

        claimed = await messaging.outbox_store.claim("relay-a", limit=10)

        assert claimed == first + second
        assert await messaging.outbox_store.unsent() == 5

    async def test_the_state_change_and_its_messages_commit_together_or_not_at_all(self, messaging):
        async def failing() -> None:
            async with messaging.uow_factory() as uow:
                await uow.repository(Shipment).insert(Shipment(n=1))
                await messaging.outbox_store.add([outgoing(1)], uow=uow)
                raise Boom

        with pytest.raises(Boom):
            await failing()

        assert await messaging.repository(Shipment).count() == 0
        assert await messaging.outbox_store.unsent() == 0
        assert await messaging.outbox_store.claim("relay-a") == []

        async with messaging.uow_factory() as uow:
            await uow.repository(Shipment).insert(Shipment(n=2))
            await messaging.outbox_store.add([outgoing(2)], uow=uow)

        assert await messaging.repository(Shipment).count() == 1
        assert [m.envelope.data["n"] for m in await messaging.outbox_store.claim("relay-a")] == [2]

    async def test_uncommitted_messages_are_not_claimed(self, messaging):
        async with messaging.uow_factory() as uow:
            await messaging.outbox_store.add([outgoing(1)], uow=uow)
            assert await messaging.another_outbox_store().claim("relay-b") == []
        assert len(await messaging.another_outbox_store().claim("relay-b")) == 1

    async def test_a_claim_takes_at_most_the_limit(self, messaging):
        sent = [outgoing(n) for n in range(5)]
        await add(messaging, sent)

        one = await messaging.outbox_store.claim("relay-a", limit=2)
        two = await messaging.outbox_store.claim("relay-a", limit=2)
        three = await messaging.outbox_store.claim("relay-a", limit=2)

        assert (one, two, three) == (sent[:2], sent[2:4], sent[4:])

    async def test_a_claim_keeps_other_relays_off_until_its_lease_expires(self, messaging):
        sent = [outgoing(1), outgoing(2)]
        await add(messaging, sent)
        other = messaging.another_outbox_store()

        assert await messaging.outbox_store.claim("relay-a", lease=0.4) == sent
        assert await other.claim("relay-b", lease=0.4) == []
        await asyncio.sleep(0.5)

        assert await other.claim("relay-b", lease=30) == sent
        assert await messaging.outbox_store.claim("relay-a") == []

    async def test_sent_messages_are_never_claimed_again(self, messaging):
        await add(messaging, [outgoing(1), outgoing(2)])
        claimed = await messaging.outbox_store.claim("relay-a", lease=0.2)

        await messaging.outbox_store.mark_sent(ids(claimed[:1]))
        await asyncio.sleep(0.3)

        assert await messaging.outbox_store.unsent() == 1
        assert await messaging.outbox_store.claim("relay-b") == claimed[1:]

    async def test_released_messages_can_be_claimed_at_once(self, messaging):
        await add(messaging, [outgoing(1), outgoing(2)])
        claimed = await messaging.outbox_store.claim("relay-a")

        await messaging.outbox_store.release("relay-b", ids(claimed))  # not its claims
        assert await messaging.another_outbox_store().claim("relay-b") == []
        await messaging.outbox_store.release("relay-a", ids(claimed))

        assert await messaging.another_outbox_store().claim("relay-b") == claimed

    async def test_concurrent_relays_never_claim_the_same_message(self, messaging):
        sent = [outgoing(n) for n in range(24)]
        await add(messaging, sent)
        stores = [messaging.another_outbox_store() for _ in range(4)]
        won: list[list[OutboxMessage]] = [[] for _ in stores]

        async def relay(index: int) -> None:
            while batch := await stores[index].claim(f"relay-{index}", limit=5):
                won[index] += batch
                await asyncio.sleep(0)

        await asyncio.gather(*(relay(i) for i in range(len(stores))))

        claimed = [m for batch in won for m in batch]
        assert sorted(ids(claimed)) == sorted(ids(sent))
        assert len(claimed) == len(sent)

    async def test_sent_messages_are_purged_after_their_time(self, messaging):
        await add(messaging, [outgoing(1), outgoing(2)])
        claimed = await messaging.outbox_store.claim("relay-a")
        await messaging.outbox_store.mark_sent(ids(claimed[:1]))

        future = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
        past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        assert await messaging.outbox_store.purge_sent(past) == 0
        assert await messaging.outbox_store.purge_sent(future) == 1
        assert await messaging.outbox_store.unsent() == 1

    async def test_a_message_id_is_stored_once(self, messaging):
        message = outgoing(1)
        await add(messaging, [message])

        with pytest.raises(DuplicateKey):
            await add(messaging, [message])

        assert await messaging.outbox_store.unsent() == 1


async def _retried(messaging, work) -> Any:
    async for attempt in tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception_type((ConcurrencyConflict, DuplicateKey)),
        stop=tenacity.stop_after_attempt(5),
        reraise=True,
    ):
        with attempt:
            return await messaging.uow_factory.run(work)
    return None


class InboxContract:
    async def test_a_recorded_message_is_recorded_once(self, messaging):
        message_id = f"msg_{uuid.uuid4().hex}"
        async with messaging.uow_factory() as uow:
            assert await messaging.inbox.record("billing", message_id, uow=uow) is True
            assert await messaging.inbox.handled("billing", message_id) is False  # not committed

        assert await messaging.inbox.handled("billing", message_id) is True
        async with messaging.uow_factory() as uow:
            assert await messaging.inbox.record("billing", message_id, uow=uow) is False

    async def test_a_rolled_back_record_is_forgotten_with_the_effect(self, messaging):
        message_id = f"msg_{uuid.uuid4().hex}"

        async def failing() -> None:
            async with messaging.uow_factory() as uow:
                await messaging.inbox.record("billing", message_id, uow=uow)
                await uow.repository(Shipment).insert(Shipment(n=1))
                raise Boom

        with pytest.raises(Boom):
            await failing()

        assert await messaging.inbox.handled("billing", message_id) is False
        assert await messaging.repository(Shipment).count() == 0
        async with messaging.uow_factory() as uow:
            assert await messaging.inbox.record("billing", message_id, uow=uow) is True

    async def test_consumers_are_kept_apart(self, messaging):
        message_id = f"msg_{uuid.uuid4().hex}"
        async with messaging.uow_factory() as uow:
            await messaging.inbox.record("billing", message_id, uow=uow)

        assert await messaging.inbox.handled("shipping", message_id) is False
        async with messaging.uow_factory() as uow:
            assert await messaging.inbox.record("shipping", message_id, uow=uow) is True

    async def test_of_two_concurrent_records_of_a_message_one_takes_effect(self, messaging):
        message_id = f"msg_{uuid.uuid4().hex}"
        arrived = 0
        both = asyncio.Event()

        async def work(uow) -> bool:
            nonlocal arrived
            first = await messaging.inbox.record("billing", message_id, uow=uow)
            if first:
                await uow.repository(Shipment).insert(Shipment(n=7))
            arrived += 1
            if arrived >= 2:
                both.set()
            await asyncio.wait_for(both.wait(), 10)
            return first

        results = await asyncio.gather(_retried(messaging, work), _retried(messaging, work))

        assert sorted(results) == [False, True]
        assert await messaging.repository(Shipment).count() == 1


OUTBOX_CONTRACTS: tuple[type, ...] = (OutboxStoreContract, InboxContract)


def uncovered(namespace: dict[str, Any], contracts: tuple[type, ...]) -> list[str]:
    """The contracts no ``Test`` class of ``namespace`` runs."""
    running = {
        base
        for name, value in namespace.items()
        if name.startswith("Test") and isinstance(value, type)
        for base in value.__mro__
    }
    return [c.__name__ for c in contracts if c not in running]
