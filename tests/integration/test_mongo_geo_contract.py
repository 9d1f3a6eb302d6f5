"""The geo contracts on MongoDB; operators the test server lacks skip, saying which and why."""

import pytest

pytest.register_assert_rewrite("hk_testing.geo_contracts")

from hk_testing import contracts, geo_contracts  # noqa: E402 - imports follow the rewrite hook

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


@pytest.fixture
async def backend(mongo_uri):
    async with contracts.mongo_backend(mongo_uri) as opened:
        yield opened


@pytest.fixture(scope="session")
def geo_missing(mongo_uri):
    return geo_contracts.mongo_geo_missing(mongo_uri)


class TestGeo(geo_contracts.GeoContract):
    pass
