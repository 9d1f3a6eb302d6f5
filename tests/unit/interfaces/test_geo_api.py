"""GeoJSON fields and the geo operators of ``where``, in-process on the embedded store."""

import pytest

pytest.register_assert_rewrite("hk_testing.geo_contracts")

from hk_testing import geo_contracts  # noqa: E402 - imports follow the rewrite hook
from hk_testing.rest_contract import contract_settings  # noqa: E402
from litestar.testing import AsyncTestClient  # noqa: E402

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client():
    async with AsyncTestClient(geo_contracts.build_geo_app(contract_settings())) as test_client:
        yield test_client


@pytest.fixture
def geo_missing():
    return geo_contracts.memory_geo_missing


class TestGeoApi(geo_contracts.GeoRestContract):
    pass
