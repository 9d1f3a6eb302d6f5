"""The outbox-store and inbox contracts on MongoDB."""

import pytest

pytest.register_assert_rewrite("hk_testing.outbox_contracts")

from hk_testing import outbox_contracts as contracts  # noqa: E402 - after the rewrite hook
from hk_testing.messaging import mongo_messaging  # noqa: E402

from hexkernel.core.ports import Inbox, OutboxStore  # noqa: E402

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


@pytest.fixture
async def messaging(mongo_uri):
    async with mongo_messaging(mongo_uri) as backend:
        yield backend


class TestOutboxStore(contracts.OutboxStoreContract):
    pass


class TestInbox(contracts.InboxContract):
    pass


def test_every_outbox_contract_runs_on_mongodb():
    assert contracts.uncovered(globals(), contracts.OUTBOX_CONTRACTS) == []


async def test_the_mongodb_adapters_implement_the_ports(messaging):
    assert isinstance(messaging.outbox_store, OutboxStore)
    assert isinstance(messaging.inbox, Inbox)
