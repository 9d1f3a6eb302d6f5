"""The message-broker contracts on the in-memory broker."""

import pytest

pytest.register_assert_rewrite("hk_testing.broker_contracts")

from hk_testing import broker_contracts as contracts  # noqa: E402 - after the rewrite hook

from hexkernel.adapters.memory.broker import InMemoryBroker  # noqa: E402
from hexkernel.core.ports.message_broker import MessageBroker  # noqa: E402

pytestmark = pytest.mark.anyio


@pytest.fixture
def broker():
    return InMemoryBroker()


class TestPublishAndReceive(contracts.PublishAndReceiveContract):
    pass


class TestAcknowledgement(contracts.AcknowledgementContract):
    pass


def test_every_broker_contract_runs_in_memory():
    assert contracts.uncovered(globals(), contracts.BROKER_CONTRACTS) == []


def test_the_in_memory_broker_is_a_message_broker():
    assert isinstance(InMemoryBroker(), MessageBroker)
