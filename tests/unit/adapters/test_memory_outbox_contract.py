"""The outbox-store and inbox contracts on the in-memory store."""

import pytest

pytest.register_assert_rewrite("hk_testing.outbox_contracts")

from hk_testing import outbox_contracts as contracts  # noqa: E402 - after the rewrite hook
from hk_testing.messaging import MemoryMessaging  # noqa: E402

from hexkernel.core.ports import Inbox, OutboxStore  # noqa: E402

pytestmark = pytest.mark.anyio


@pytest.fixture
def messaging():
    return MemoryMessaging()


class TestOutboxStore(contracts.OutboxStoreContract):
    pass


class TestInbox(contracts.InboxContract):
    pass


def test_every_outbox_contract_runs_in_memory():
    assert contracts.uncovered(globals(), contracts.OUTBOX_CONTRACTS) == []


def test_the_in_memory_adapters_implement_the_ports():
    messaging = MemoryMessaging()
    assert isinstance(messaging.outbox_store, OutboxStore)
    assert isinstance(messaging.inbox, Inbox)
