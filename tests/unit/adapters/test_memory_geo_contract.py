"""The geo contracts on the in-memory store: every operator runs."""

import pytest

pytest.register_assert_rewrite("hk_testing.geo_contracts")

from hk_testing import contracts, geo_contracts  # noqa: E402 - imports follow the rewrite hook


@pytest.fixture
def backend():
    return contracts.MemoryBackend()


@pytest.fixture
def geo_missing():
    return geo_contracts.memory_geo_missing


class TestGeo(geo_contracts.GeoContract):
    pass
