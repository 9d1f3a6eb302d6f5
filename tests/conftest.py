"""Test-suite wide configuration: plugins, Hypothesis profiles, the anyio backend."""

import os

import pytest
from hypothesis import HealthCheck, settings

# Every helper module of the test support package gets pytest's assertion
# messages, whichever test module imports it first.
pytest.register_assert_rewrite("hk_testing")

pytest_plugins = ("hk_testing.mongo_server", "hk_testing.redis_server")

settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile(
    "ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("fast", max_examples=20, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture
def anyio_backend() -> str:
    """Run async tests on asyncio: pymongo's async client supports nothing else."""
    return "asyncio"
