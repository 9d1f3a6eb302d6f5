"""The message-broker contracts on Redis Streams (each test under its own key prefix)."""

import pytest

pytest.register_assert_rewrite("hk_testing.broker_contracts")

from hk_testing import broker_contracts as contracts  # noqa: E402 - after the rewrite hook

from hexkernel.adapters.redis import RedisBroker  # noqa: E402
from hexkernel.core.ports.message_broker import BrokerUnavailable, MessageBroker  # noqa: E402

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


@pytest.fixture
async def broker(redis_url, redis_prefix):
    broker = RedisBroker.from_url(redis_url, prefix=redis_prefix)
    try:
        yield broker
    finally:
        await broker.close()


class TestPublishAndReceive(contracts.PublishAndReceiveContract):
    pass


class TestAcknowledgement(contracts.AcknowledgementContract):
    pass


def test_every_broker_contract_runs_on_redis():
    assert contracts.uncovered(globals(), contracts.BROKER_CONTRACTS) == []


async def test_the_redis_broker_is_a_message_broker(broker):
    assert isinstance(broker, MessageBroker)


async def test_the_stream_holds_the_envelope_as_json(broker, redis_prefix):
    sent = contracts.envelope(1)
    entry_id = await broker.publish("plain", sent)

    [(read_id, fields)] = await broker.client.xrange(f"{redis_prefix}plain")

    assert read_id == entry_id
    assert fields == {"envelope": sent.to_json()}


async def test_an_entry_deleted_while_pending_is_settled_not_delivered(broker, redis_prefix):
    await broker.publish("gone", contracts.envelope(1))
    await broker.publish("gone", contracts.envelope(2))
    first = await broker.subscribe("gone", "g", "c1", redeliver_after=60)
    [one, two] = await first.receive(limit=10, wait=0.05)
    await broker.client.xdel(f"{redis_prefix}gone", one.delivery_id)

    restarted = await broker.subscribe("gone", "g", "c1", redeliver_after=60)
    again = await restarted.receive(limit=10, wait=0.05)

    assert [d.delivery_id for d in again] == [two.delivery_id]
    pending = await broker.client.xpending(f"{redis_prefix}gone", "g")
    assert pending["pending"] == 1


async def test_an_unreachable_server_is_reported_as_unavailable():
    broker = RedisBroker.from_url(
        "redis://127.0.0.1:1/0", socket_connect_timeout=0.5, retry_on_timeout=False
    )
    try:
        with pytest.raises(BrokerUnavailable):
            await broker.publish("any", contracts.envelope(1))
    finally:
        await broker.close()
