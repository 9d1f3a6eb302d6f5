"""The message-broker contracts, run against every adapter of the port.

A test module provides a fixture named ``broker`` (a fresh
:class:`~hexkernel.core.ports.message_broker.MessageBroker`, isolated from other
tests) and subclasses every contract under a ``Test`` name; :func:`uncovered`
checks that none is left out.
"""

import asyncio
import time
import uuid
from typing import Any

from hexkernel.core.correlation import correlated
from hexkernel.core.envelope import Envelope, caused_by
from hexkernel.core.messages import Event, MessageRegistry, message

__all__ = ("BROKER_CONTRACTS", "Pinged", "envelope", "uncovered")

MESSAGES = MessageRegistry()


@message("hk_test.Pinged", into=MESSAGES)
class Pinged(Event):
    n: int
    note: str = ""


def envelope(n: int, note: str = "") -> Envelope:
    return Envelope.wrap(Pinged(n=n, note=note), registry=MESSAGES)


def topic() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


async def publish(broker, name: str, count: int, start: int = 0) -> list[Envelope]:
    sent = [envelope(n) for n in range(start, start + count)]
    for each in sent:
        await broker.publish(name, each)
    return sent


async def drain(subscription, *, wait: float = 0.05) -> list[Any]:
    """Receive until an empty answer."""
    out = []
    while batch := await subscription.receive(limit=10, wait=wait):
        out += batch
    return out


def numbers(deliveries) -> list[int]:
    return [d.envelope.open(MESSAGES).n for d in deliveries]


class PublishAndReceiveContract:
    async def test_a_group_receives_what_was_published_before_it_subscribed_in_order(self, broker):
        name = topic()
        sent = await publish(broker, name, 5)
        subscription = await broker.subscribe(name, "g", "c1")

        received = await drain(subscription)

        assert [d.envelope for d in received] == sent
        assert {(d.topic, d.group, d.attempt) for d in received} == {(name, "g", 1)}
        assert len({d.delivery_id for d in received}) == 5
        assert await broker.topic_length(name) == 5

    async def test_the_envelope_arrives_whole(self, broker):
        name = topic()
        with correlated("corr-7"), caused_by("msg_cause"):
            sent = envelope(3, note="ünïcödé")
        await broker.publish(name, sent)
        subscription = await broker.subscribe(name, "g", "c1")

        [delivery] = await drain(subscription)

        assert delivery.envelope == sent
        assert delivery.envelope.correlation_id == "corr-7"
        assert delivery.envelope.causation_id == "msg_cause"
        assert delivery.envelope.open(MESSAGES) == Pinged(n=3, note="ünïcödé")

    async def test_every_group_receives_every_message(self, broker):
        name = topic()
        one = await broker.subscribe(name, "one", "c")
        two = await broker.subscribe(name, "two", "c")
        await publish(broker, name, 4)

        assert numbers(await drain(one)) == [0, 1, 2, 3]
        assert numbers(await drain(two)) == [0, 1, 2, 3]

    async def test_members_of_a_group_share_the_messages(self, broker):
        name = topic()
        first = await broker.subscribe(name, "g", "c1")
        second = await broker.subscribe(name, "g", "c2")
        await publish(broker, name, 6)

        a = await first.receive(limit=3, wait=0.05)
        b = await second.receive(limit=10, wait=0.05)

        assert numbers(a) == [0, 1, 2]
        assert numbers(b) == [3, 4, 5]
        assert await first.receive(limit=10, wait=0.05) == []

    async def test_topics_are_kept_apart(self, broker):
        one, two = topic(), topic()
        await publish(broker, one, 2)
        await publish(broker, two, 3, start=10)

        assert numbers(await drain(await broker.subscribe(one, "g", "c"))) == [0, 1]
        assert numbers(await drain(await broker.subscribe(two, "g", "c"))) == [10, 11, 12]
        assert await broker.topic_length(topic()) == 0

    async def test_a_receive_waits_for_a_publication(self, broker):
        name = topic()
        subscription = await broker.subscribe(name, "g", "c")

        async def later() -> None:
            await asyncio.sleep(0.1)
            await publish(broker, name, 1)

        started = time.monotonic()
        task = asyncio.create_task(later())
        received = await subscription.receive(limit=10, wait=3.0)
        await task

        assert numbers(received) == [0]
        assert time.monotonic() - started < 2.5

    async def test_an_empty_topic_answers_nothing_after_the_wait(self, broker):
        subscription = await broker.subscribe(topic(), "g", "c")
        started = time.monotonic()

        assert await subscription.receive(limit=10, wait=0.2) == []
        assert time.monotonic() - started >= 0.15


class AcknowledgementContract:
    async def test_an_acknowledged_message_is_never_delivered_again(self, broker):
        name = topic()
        await publish(broker, name, 2)
        first = await broker.subscribe(name, "g", "c1", redeliver_after=0.1)
        received = await first.receive(limit=10, wait=0.05)
        await first.ack(*received)
        await first.ack(*received)  # twice is harmless

        await asyncio.sleep(0.25)
        other = await broker.subscribe(name, "g", "c2", redeliver_after=0.1)
        restarted = await broker.subscribe(name, "g", "c1", redeliver_after=0.1)

        assert await other.receive(limit=10, wait=0.05) == []
        assert await restarted.receive(limit=10, wait=0.05) == []

    async def test_an_unacknowledged_message_is_delivered_again_after_the_timeout(self, broker):
        name = topic()
        await publish(broker, name, 3)
        crashed = await broker.subscribe(name, "g", "c1", redeliver_after=0.2)
        taken = await crashed.receive(limit=10, wait=0.05)
        await crashed.ack(taken[1])
        survivor = await broker.subscribe(name, "g", "c2", redeliver_after=0.2)

        assert await survivor.receive(limit=10, wait=0.05) == []  # not stale yet
        await asyncio.sleep(0.3)
        again = await survivor.receive(limit=10, wait=0.05)

        assert numbers(again) == [0, 2]
        assert [d.attempt for d in again] == [2, 2]
        assert [d.envelope for d in again] == [taken[0].envelope, taken[2].envelope]
        await survivor.ack(*again)
        await asyncio.sleep(0.3)
        assert await survivor.receive(limit=10, wait=0.05) == []

    async def test_a_restarted_consumer_gets_its_pending_messages_back_at_once(self, broker):
        name = topic()
        await publish(broker, name, 3)
        before = await broker.subscribe(name, "g", "c1", redeliver_after=60)
        taken = await before.receive(limit=2, wait=0.05)
        assert numbers(taken) == [0, 1]

        after = await broker.subscribe(name, "g", "c1", redeliver_after=60)
        again = await after.receive(limit=10, wait=0.05)

        assert numbers(again) == [0, 1, 2]
        assert [d.attempt for d in again] == [2, 2, 1]
        await after.ack(*again)
        assert await after.receive(limit=10, wait=0.05) == []

    async def test_a_restart_hands_back_more_pending_messages_than_one_batch(self, broker):
        name = topic()
        await publish(broker, name, 7)
        before = await broker.subscribe(name, "g", "c1", redeliver_after=60)
        assert len(await drain(before)) == 7

        after = await broker.subscribe(name, "g", "c1", redeliver_after=60)
        batches = [await after.receive(limit=3, wait=0.05) for _ in range(4)]

        assert [numbers(b) for b in batches] == [[0, 1, 2], [3, 4, 5], [6], []]

    async def test_a_message_keeps_coming_back_until_acknowledged(self, broker):
        name = topic()
        await publish(broker, name, 1)
        subscription = await broker.subscribe(name, "g", "c1", redeliver_after=0.1)
        attempts = []
        for _ in range(3):
            [delivery] = await subscription.receive(limit=10, wait=0.5)
            attempts.append(delivery.attempt)
            await asyncio.sleep(0.15)

        assert attempts == [1, 2, 3]


BROKER_CONTRACTS: tuple[type, ...] = (PublishAndReceiveContract, AcknowledgementContract)


def uncovered(namespace: dict[str, Any], contracts: tuple[type, ...]) -> list[str]:
    running = {
        base
        for name, value in namespace.items()
        if name.startswith("Test") and isinstance(value, type)
        for base in value.__mro__
    }
    return [c.__name__ for c in contracts if c not in running]
