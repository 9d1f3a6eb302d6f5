"""The in-memory event store against a model, through random sequences of appends."""

import contextlib

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

pytest.register_assert_rewrite("hk_testing.event_store_stateful")

from hk_testing import event_store_contracts as contracts  # noqa: E402 - after the rewrite hook
from hk_testing.event_store_stateful import event_store_machine  # noqa: E402


@contextlib.asynccontextmanager
async def memory_backend():
    yield contracts.MemoryEventBackend()


def test_the_in_memory_event_store_behaves_as_the_model():
    run_state_machine_as_test(
        event_store_machine(memory_backend),
        settings=settings(max_examples=60, stateful_step_count=25, deadline=None),
    )
