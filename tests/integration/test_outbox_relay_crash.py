"""Crash test with real processes: a relay killed between publishing and marking sent.

A producer (this process) commits state changes with their outbox messages on
MongoDB. A relay *process* publishes the first batch to Redis and is killed
with SIGKILL before marking it sent. A second relay process publishes the rest
and, once the dead relay's leases expire, the first batch again: the broker
then holds duplicates. Two consumers of one group, each with the inbox on the
consuming service's own database, handle everything: each effect shows exactly
once.
"""

import asyncio
import json
import os
import signal
import sys
import uuid
from pathlib import Path

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
    UnitOfWorkMiddleware,
    current_unit_of_work,
)
from hexkernel.core.query import Query

pytestmark = [pytest.mark.anyio, pytest.mark.integration, pytest.mark.slow]

SUPPORT = Path(__file__).parents[1] / "support"
COUNT = 12
BATCH = 5
TOPIC = "shipments"


async def run_relay(mongo_uri, database, redis_url, prefix, owner, *, crash: bool):
    env = {
        **os.environ,
        "PYTHONPATH": str(SUPPORT),
        "HK_RELAY_CRASH": "1" if crash else "0",
        "HK_RELAY_BATCH": str(BATCH),
        "HK_RELAY_LEASE": "1.0",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hk_testing.outbox_relay_process",
        mongo_uri,
        database,
        redis_url,
        prefix,
        owner,
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), 120)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return process.returncode, [json.loads(line) for line in out.decode().splitlines()]


async def test_a_relay_killed_before_marking_sent_leaves_each_effect_exactly_once(
    mongo_uri, redis_url, redis_prefix
):
    broker = RedisBroker.from_url(redis_url, prefix=redis_prefix)
    async with (
        mongo_messaging(mongo_uri) as orders,
        mongo_messaging(mongo_uri) as counting,
    ):
        # The producer: each command stores a Shipment and its event, in one transaction.
        outbox = Outbox(orders.outbox_store, {ShipmentRequested: TOPIC}, registry=MESSAGES)
        bus = CommandBus(
            middleware=[UnitOfWorkMiddleware(orders.uow_factory), OutboxMiddleware(outbox)]
        )

        async def ship(command: Ship) -> None:
            shipment = (
                await current_unit_of_work().repository(Shipment).insert(Shipment(n=command.n))
            )
            current_unit_of_work().collect(ShipmentRequested(shipment_id=shipment.id, n=command.n))

        bus.register(Ship, ship)
        for n in range(COUNT):
            await bus.dispatch(Ship(n=n))
        assert await orders.outbox_store.unsent() == COUNT
        database = orders.database.name

        try:
            # The first relay publishes one batch and dies before marking it sent.
            code, lines = await run_relay(
                mongo_uri, database, redis_url, redis_prefix, "relay-1", crash=True
            )
            assert code == -signal.SIGKILL
            assert lines == [{"published_before_crash": BATCH}]
            assert await broker.topic_length(TOPIC) == BATCH
            assert await orders.outbox_store.unsent() == COUNT

            # Its successor publishes everything, the dead relay's batch again included.
            code, lines = await run_relay(
                mongo_uri, database, redis_url, redis_prefix, "relay-2", crash=False
            )
            assert code == 0
            assert lines == [{"published": COUNT}]
            assert await orders.outbox_store.unsent() == 0
            assert await broker.topic_length(TOPIC) == COUNT + BATCH

            # Two members of the consuming group handle the stream, duplicates included.
            runners = [
                ConsumerRunner(
                    broker,
                    counting.uow_factory,
                    counting.inbox,
                    group="counting",
                    topics=[TOPIC],
                    handlers={ShipmentRequested: count_shipment},
                    consumer=f"member-{n}",
                    registry=MESSAGES,
                    batch_size=3,
                )
                for n in range(2)
            ]
            handled = 0
            while True:
                rounds = await asyncio.gather(*(r.run_once(wait=0.2) for r in runners))
                handled += sum(rounds)
                if not any(rounds):
                    break
            assert handled == COUNT + BATCH
        finally:
            await broker.close()

        tally = await read_tally(counting.repository(Tally))
        assert tally.count == COUNT
        assert sorted(tally.seen) == list(range(COUNT))
        shipments = await orders.repository(Shipment).find(Query(Shipment))
        assert sorted(s.n for s in shipments) == list(range(COUNT))
        envelopes = [
            m.envelope
            for m in await orders.another_outbox_store().claim(f"audit-{uuid.uuid4().hex}")
        ]
        assert envelopes == []  # everything was marked sent
