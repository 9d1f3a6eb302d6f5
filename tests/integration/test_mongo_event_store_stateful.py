"""The MongoDB event store against a model, through random sequences of appends."""

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

pytest.register_assert_rewrite("hk_testing.event_store_stateful")

from hk_testing import event_store_contracts as contracts  # noqa: E402 - after the rewrite hook
from hk_testing.event_store_stateful import event_store_machine  # noqa: E402

pytestmark = pytest.mark.integration


def test_the_mongodb_event_store_behaves_as_the_model(mongo_uri):
    run_state_machine_as_test(
        event_store_machine(lambda: contracts.mongo_event_backend(mongo_uri)),
        settings=settings(
            max_examples=12,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
