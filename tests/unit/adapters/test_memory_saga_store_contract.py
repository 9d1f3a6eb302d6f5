"""The in-memory saga store passes the saga-store contract."""

import pytest
from hk_testing.saga_store_contracts import SagaStoreContract

from hexkernel.adapters.memory.saga_store import InMemorySagaStore


@pytest.fixture
def saga_store():
    return InMemorySagaStore()


class TestInMemorySagaStore(SagaStoreContract):
    pass
